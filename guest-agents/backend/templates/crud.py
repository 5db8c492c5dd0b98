"""Create, read, update and delete for every model, optionally scoped to an owner."""

from sqlalchemy import select
from sqlalchemy.orm import Session


def list_rows(db: Session, model, skip: int = 0, limit: int = 100, owner_id: int | None = None):
    stmt = select(model)
    if owner_id is not None:
        stmt = stmt.where(model.owner_id == owner_id)
    return db.scalars(stmt.order_by(model.id).offset(skip).limit(limit)).all()


def get_row(db: Session, model, row_id: int, owner_id: int | None = None):
    row = db.get(model, row_id)
    if row is None or (owner_id is not None and row.owner_id != owner_id):
        return None
    return row


def create_row(db: Session, model, data: dict, owner_id: int | None = None):
    row = model(**data)
    if owner_id is not None:
        row.owner_id = owner_id
    db.add(row)
    db.commit()
    db.refresh(row)
    return row


def update_row(db: Session, row, data: dict):
    for key, value in data.items():
        setattr(row, key, value)
    db.commit()
    db.refresh(row)
    return row


def delete_row(db: Session, row) -> None:
    db.delete(row)
    db.commit()
