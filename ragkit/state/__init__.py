"""ragkit's state: one database per home, behind one module, with versioned migrations.

The ingest manifest, conversation threads and everything the server stores (files, vector
stores, keys, Assistants and Responses objects, uploads, feedback, the audit log) share one
database: ``<home>/ragkit.sqlite`` by default, or the SQLAlchemy URL in the ``database_url``
setting (``RAGKIT_DATABASE_URL``): another SQLite file, or a PostgreSQL database
(``postgresql+psycopg://...``) that several processes and hosts share. Opening it runs the Alembic
migrations shipped in ``ragkit/state/migrations`` up to the head revision, under a lock, and
imports a (local, SQLite) home written in the previous one-file-per-module layout.

This is part of the foundation: it imports only :mod:`ragkit.config`, :mod:`ragkit.errors` and
third-party libraries. The stores above it (:mod:`ragkit.stores.manifest`, ...) and the
repositories here read and write through :meth:`StateDB.read` / :meth:`StateDB.write` in the SQL
both backends share (:mod:`ragkit.state.database` documents the API). Every statement the server
runs lives in the repositories: :mod:`~ragkit.state.library` and :mod:`~ragkit.state.queue`
(joined as :class:`~ragkit.state.server.ServerState`), :mod:`~ragkit.state.assistants`,
:mod:`~ragkit.state.responses`, :mod:`~ragkit.state.keys`, :mod:`~ragkit.state.uploads`,
:mod:`~ragkit.state.file_expiry`, :mod:`~ragkit.state.feedback` and :mod:`~ragkit.state.audit`.

Conversations are one model (:mod:`~ragkit.state.conversation_model`) with one repository
(:mod:`~ragkit.state.conversations`): chat threads (:mod:`ragkit.conversations.store`), Assistants
threads and Responses conversations are views of it.
"""

from ragkit.state.connections import ThreadConnections
from ragkit.state.database import StateDB, open_database, open_home
from ragkit.state.migrate import head
from ragkit.state.session import Row, Session
from ragkit.state.urls import FILENAME, checked_url, home_url

__all__ = ["FILENAME", "Row", "Session", "StateDB", "ThreadConnections", "checked_url", "head", "home_url",
           "open_database", "open_home"]
