"""Alembic environment for ragkit's state database.

ragkit runs the migrations itself (:func:`ragkit.state.migrate.upgrade`) and passes an open
connection, already inside a transaction (``BEGIN IMMEDIATE`` on SQLite), holding the migration
lock, as ``config.attributes["connection"]``. Revisions must work on SQLite and PostgreSQL alike.
A developer writing a new revision can also point Alembic's command API at a file with the
``sqlalchemy.url`` option (``alembic_config()`` plus ``set_main_option("sqlalchemy.url", ...)``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool


def _run(connection) -> None:
    # batch mode: SQLite alters most tables by copying them; Alembic's batch operations do that
    # (on PostgreSQL they are plain ALTERs).
    context.configure(connection=connection, target_metadata=None, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
    with engine.begin() as opened:
        _run(opened)
