"""@@title@@ API: the FastAPI application."""

import os
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Response, status
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.orm import Session

import crud
import models
import schemas
from database import Base, engine, get_db

AUTH = @@auth@@

if AUTH:
    from auth import get_current_user
    from auth import router as auth_router

    current_user = get_current_user
else:

    def current_user():
        return None


@asynccontextmanager
async def lifespan(app: FastAPI):
    Base.metadata.create_all(bind=engine)
    yield


app = FastAPI(title="@@title@@", lifespan=lifespan)

origins = [o.strip() for o in os.environ.get("CORS_ORIGINS", "http://localhost:5173").split(",") if o.strip()]
app.add_middleware(
    CORSMiddleware,
    allow_origins=origins,
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)

if AUTH:
    app.include_router(auth_router)


@app.get("/api/health")
def health():
    return {"status": "ok"}


def crud_router(model, create_schema, update_schema, read_schema, prefix: str, owned: bool, references: dict):
    """Routes for one entity: list, create, read, update, delete."""
    router = APIRouter(prefix=f"/api/{prefix}", tags=[prefix])

    def owner(user) -> int | None:
        return user.id if (owned and user is not None) else None

    def check_references(db: Session, data: dict) -> None:
        for field, target in references.items():
            value = data.get(field)
            if value is not None and db.get(target, value) is None:
                raise HTTPException(
                    status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
                    detail=f"{field}: no {target.__name__} with id {value}",
                )

    def found(db: Session, row_id: int, user):
        row = crud.get_row(db, model, row_id, owner(user))
        if row is None:
            raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"{model.__name__} {row_id} not found")
        return row

    @router.get("", response_model=list[read_schema])
    def list_items(skip: int = 0, limit: int = 100, db: Session = Depends(get_db), user=Depends(current_user)):
        return crud.list_rows(db, model, skip=skip, limit=min(limit, 500), owner_id=owner(user))

    @router.post("", response_model=read_schema, status_code=status.HTTP_201_CREATED)
    def create_item(payload: create_schema, db: Session = Depends(get_db), user=Depends(current_user)):
        data = payload.model_dump()
        check_references(db, data)
        return crud.create_row(db, model, data, owner_id=owner(user))

    @router.get("/{item_id}", response_model=read_schema)
    def read_item(item_id: int, db: Session = Depends(get_db), user=Depends(current_user)):
        return found(db, item_id, user)

    @router.put("/{item_id}", response_model=read_schema)
    def update_item(item_id: int, payload: update_schema, db: Session = Depends(get_db), user=Depends(current_user)):
        row = found(db, item_id, user)
        data = payload.model_dump(exclude_unset=True)
        check_references(db, data)
        return crud.update_row(db, row, data)

    @router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
    def delete_item(item_id: int, db: Session = Depends(get_db), user=Depends(current_user)):
        crud.delete_row(db, found(db, item_id, user))
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


# (model, create schema, update schema, read schema, route prefix, owned by the user, foreign keys)
ENTITIES = [
@@registry@@
]

for entry in ENTITIES:
    app.include_router(crud_router(*entry))
