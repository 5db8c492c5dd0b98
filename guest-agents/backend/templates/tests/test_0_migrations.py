"""The migrations in migrations/ build exactly the tables models.py describes.

Each test migrates an empty database of its own, never the one the other tests
use: a temporary SQLite file, and when DATABASE_URL names PostgreSQL also a new
schema there, dropped afterwards. (The file name starts with a digit so that it
cannot be the test file of an entity.)
"""

import os
import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, UniqueConstraint, create_engine, inspect
from sqlalchemy.schema import CreateSchema, DropSchema

import models  # noqa: F401  (defines the tables on Base.metadata)
from database import DATABASE_URL, Base
from database import engine as suite_engine

ALEMBIC_INI = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "alembic.ini")

DATABASES = ["sqlite"] + (["postgresql"] if DATABASE_URL.startswith("postgresql") else [])


@pytest.fixture(params=DATABASES)
def empty(request, tmp_path):
    """An engine on an empty database: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"migrations_{uuid.uuid4().hex[:12]}"
    with suite_engine.begin() as connection:
        connection.execute(CreateSchema(schema))
    engine = create_engine(DATABASE_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with suite_engine.begin() as connection:
            connection.execute(DropSchema(schema, cascade=True))


def migrate(engine, step, revision: str) -> None:
    """Runs an Alembic command (command.upgrade or command.downgrade) on the engine's database."""
    config = Config(ALEMBIC_INI)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)


def reflected_names(inspector) -> dict:
    """Per table of the models, the names of its constraints and indexes in the database."""
    return {
        table: {
            "primary key": {inspector.get_pk_constraint(table)["name"]},
            "foreign keys": {fk["name"] for fk in inspector.get_foreign_keys(table)},
            "unique": {uq["name"] for uq in inspector.get_unique_constraints(table)},
            "checks": {ck["name"] for ck in inspector.get_check_constraints(table)},
            "indexes": {ix["name"] for ix in inspector.get_indexes(table) if not ix.get("duplicates_constraint")},
        }
        for table in Base.metadata.tables
    }


def model_names(dialect) -> dict:
    """Per table, the names the models give its constraints and indexes, as the dialect writes them."""
    name = dialect.identifier_preparer.format_constraint
    return {
        table.name: {
            "primary key": {name(table.primary_key)},
            "foreign keys": {name(fk) for fk in table.foreign_key_constraints},
            "unique": {name(c) for c in table.constraints if isinstance(c, UniqueConstraint)},
            "checks": {name(c) for c in table.constraints if isinstance(c, CheckConstraint)},
            "indexes": {name(ix) for ix in table.indexes},
        }
        for table in Base.metadata.tables.values()
    }


def test_upgrade_builds_the_tables_the_models_describe(empty):
    migrate(empty, command.upgrade, "head")
    with empty.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrade_names_every_constraint_as_the_models_do(empty):
    migrate(empty, command.upgrade, "head")
    with empty.connect() as connection:
        assert reflected_names(inspect(connection)) == model_names(connection.dialect)


def test_downgrade_removes_every_table(empty):
    migrate(empty, command.upgrade, "head")
    migrate(empty, command.downgrade, "base")
    with empty.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
