"""@@title@@ API: the FastAPI application."""

import os
from contextlib import asynccontextmanager
from typing import Annotated, Optional

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Response, status
from fastapi.middleware.cors import CORSMiddleware
from pydantic import Field, create_model
from sqlalchemy.exc import IntegrityError
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


def list_query(model, references: dict):
    """The list route's query: paging and an optional filter on each foreign key."""
    return create_model(
        f"{model.__name__}Query",
        skip=(int, Field(default=0, ge=0)),
        limit=(int, Field(default=100, ge=0)),
        **{field: (Optional[int], None) for field in references},
    )


def crud_router(model, create_schema, update_schema, read_schema, prefix: str, owned: bool, references: dict):
    """Routes for one entity: list (filtered by any foreign key), create, read, update, delete."""
    router = APIRouter(prefix=f"/api/{prefix}", tags=[prefix])
    query_schema = list_query(model, references)

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

    def check_required(data: dict) -> None:
        for field, value in data.items():
            if value is None and not model.__table__.columns[field].nullable:
                raise HTTPException(
                    status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
                    detail=f"{field}: a {model.__name__} needs a value",
                )

    def saved(db: Session, write, values: dict, row_id: int | None = None):
        """Runs a write; a value another row holds in a unique field is a 409 naming the field."""
        try:
            return write()
        except IntegrityError:
            db.rollback()
            columns = crud.taken(db, model, values, row_id)
            if columns is None:
                detail = f"the {model.__name__} conflicts with the data already stored"
            elif len(columns) == 1:
                detail = f"{columns[0]}: another {model.__name__} already has this value"
            else:
                detail = f"{', '.join(columns)}: another {model.__name__} already links this pair"
            raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=detail) from None

    def found(db: Session, row_id: int, user):
        row = crud.get_row(db, model, row_id, owner(user))
        if row is None:
            raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"{model.__name__} {row_id} not found")
        return row

    @router.get("", response_model=list[read_schema])
    def list_items(
        query: Annotated[query_schema, Query()], db: Session = Depends(get_db), user=Depends(current_user)
    ):
        where = query.model_dump(exclude={"skip", "limit"}, exclude_none=True)
        limit = min(query.limit, 500)
        return crud.list_rows(db, model, skip=query.skip, limit=limit, owner_id=owner(user), where=where)

    @router.post("", response_model=read_schema, status_code=status.HTTP_201_CREATED)
    def create_item(payload: create_schema, db: Session = Depends(get_db), user=Depends(current_user)):
        data = payload.model_dump()
        check_references(db, data)
        return saved(db, lambda: crud.create_row(db, model, data, owner_id=owner(user)), data)

    @router.get("/{item_id}", response_model=read_schema)
    def read_item(item_id: int, db: Session = Depends(get_db), user=Depends(current_user)):
        return found(db, item_id, user)

    @router.put("/{item_id}", response_model=read_schema)
    def update_item(item_id: int, payload: update_schema, db: Session = Depends(get_db), user=Depends(current_user)):
        row = found(db, item_id, user)
        data = payload.model_dump(exclude_unset=True)
        check_required(data)
        check_references(db, data)
        values = {**crud.values_of(row), **data}
        return saved(db, lambda: crud.update_row(db, row, data), values, row_id=item_id)

    @router.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
    def delete_item(item_id: int, db: Session = Depends(get_db), user=Depends(current_user)):
        row = found(db, item_id, user)
        try:
            crud.delete_row(db, row)
        except IntegrityError:
            db.rollback()
            raise HTTPException(
                status_code=status.HTTP_409_CONFLICT,
                detail=f"{model.__name__} {item_id} is still referred to by other rows",
            ) from None
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


# (model, create schema, update schema, read schema, route prefix, owned by the user, foreign keys)
ENTITIES = [
@@registry@@
]

for entry in ENTITIES:
    app.include_router(crud_router(*entry))
