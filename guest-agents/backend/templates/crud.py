"""Create, read, update and delete for every model, optionally scoped to an owner."""

from sqlalchemy import UniqueConstraint, select
from sqlalchemy.orm import Session


def list_rows(db: Session, model, skip: int = 0, limit: int = 100, owner_id: int | None = None, where: dict | None = None):
    """Rows in id order; `where` keeps those whose columns hold the given values."""
    stmt = select(model)
    if owner_id is not None:
        stmt = stmt.where(model.owner_id == owner_id)
    for column, value in (where or {}).items():
        stmt = stmt.where(getattr(model, column) == value)
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


def values_of(row) -> dict:
    """A row's column values."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}


def unique_groups(model) -> list[list[str]]:
    """The columns of each unique constraint of a model (one or a pair)."""
    return [
        [column.key for column in constraint.columns]
        for constraint in model.__table__.constraints
        if isinstance(constraint, UniqueConstraint)
    ]


def taken(db: Session, model, values: dict, row_id: int | None = None) -> list[str] | None:
    """The unique columns whose values another row already holds, if any."""
    for columns in unique_groups(model):
        if any(values.get(column) is None for column in columns):
            continue
        stmt = select(model.id).where(*(getattr(model, column) == values[column] for column in columns))
        if row_id is not None:
            stmt = stmt.where(model.id != row_id)
        if db.scalar(stmt.limit(1)) is not None:
            return columns
    return None
