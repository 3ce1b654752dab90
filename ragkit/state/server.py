"""The state a server process holds open: its library (files, vector stores, batches) and the
ingest queue over them, on one state database (and its connection pool).

The request handlers and the ingest worker share this one object (``ServerContext.db``); the
repositories of the other objects -- :mod:`ragkit.state.assistants`, :mod:`ragkit.state.responses`,
:mod:`ragkit.state.keys`, :mod:`ragkit.state.uploads`, :mod:`ragkit.state.audit` -- take it as their
:class:`~ragkit.state.tables.Tables`, so every request works on the same database and pool.
"""

from __future__ import annotations

from ragkit.state.library import Library
from ragkit.state.queue import IngestQueue


class ServerState(Library, IngestQueue):
    """Library and ingest queue of one state database."""
