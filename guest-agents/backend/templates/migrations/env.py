"""Alembic's environment: migrates the database DATABASE_URL names (read by
database.py, as the app reads it), with the models' metadata as the target.

A caller may hand Alembic an open connection in config.attributes["connection"]
(the migration tests do); otherwise the migrations make their own engine.
SQLite alters tables by copying them, so there operations run in batch mode.
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

import models  # noqa: F401  (defines the tables on Base.metadata)
from database import DATABASE_URL, SQLITE, Base

config = context.config
target_metadata = Base.metadata


def run_offline():
    """Writes the migrations' SQL instead of running it (alembic upgrade head --sql)."""
    context.configure(
        url=DATABASE_URL,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=SQLITE,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection):
    """Runs the migrations on an open connection."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online():
    """Runs the migrations on the given connection, or on a new one to DATABASE_URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    engine = create_engine(DATABASE_URL, poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_on(connection)


if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_offline()
else:
    run_online()
