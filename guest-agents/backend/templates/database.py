"""Database engine, sessions and the declarative base.

SQLite by default; set DATABASE_URL (for example
postgresql+psycopg://user:password@host:5432/app) to use PostgreSQL.
Constraints are named after their table (`ck_plants_price_min`,
`uq_customers_email`), so every name is unique in the database.
"""

import os

from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite:///./app.db")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE = DATABASE_URL.startswith("sqlite")
connect_args = {"check_same_thread": False} if SQLITE else {}
engine = create_engine(DATABASE_URL, connect_args=connect_args)
SessionLocal = sessionmaker(bind=engine, autoflush=False, autocommit=False)

if SQLITE:

    @event.listens_for(engine, "connect")
    def enforce_foreign_keys(connection, _record):
        """SQLite checks foreign keys only when asked, as PostgreSQL always does."""
        connection.execute("PRAGMA foreign_keys=ON")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()
