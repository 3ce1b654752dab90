"""The postgres backend's tables, connections and the name of one collection's index in them.

Every replica of a shared deployment reads the same lexical index from one PostgreSQL database
(``lexical_url``, or ``database_url`` when that is a PostgreSQL URL). Text is tokenized by ragkit
(:func:`ragkit.text.tokenize`, the terms the tantivy backend indexes) and stored as postings;
PostgreSQL sums the BM25 contributions. Per collection:

* ``lexical_collections``: the manifest generation the index matches and the statistics BM25
  needs (chunks, files, tokens), changed in the same transaction as the postings;
* ``lexical_files``: per file its path, source, file type, length in tokens and the stamp of the
  manifest row it was indexed from (a different stamp means re-index it);
* ``lexical_chunks``: per chunk its id, file, page and length in tokens;
* ``lexical_terms``: the postings, one row per (term, chunk) with the term's frequency and the
  chunk's length; the primary key (collection, term, chunk) includes the rest, so a query reads
  only the index;
* ``lexical_vocabulary``: per term the number of chunks and of files holding it (the idf counts,
  and the known words of the name check), kept in step with the postings.

The tables are created at first use (``CREATE ... IF NOT EXISTS`` through SQLAlchemy Core, under
an advisory lock so that replicas starting together do not race); they are derived state, so a
later schema change can drop and rebuild them from the manifest rather than migrate them.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass

from sqlalchemy import (BigInteger, Column, Engine, ForeignKey, Index, Integer, MetaData, PrimaryKeyConstraint,
                        Sequence, Table, Text, UniqueConstraint, create_engine, text)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool

from ragkit.errors import ConfigError

#: tantivy's BM25 parameters, so that both backends rank alike
K1, B = 1.2, 0.75
SCHEMES = ("postgresql", "postgres")

metadata = MetaData()
file_ids = Sequence("lexical_file_ids", metadata=metadata)
chunk_ids = Sequence("lexical_chunk_ids", metadata=metadata)

collections = Table(
    "lexical_collections", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("generation", BigInteger),  # NULL: never synced
    Column("chunks", BigInteger, nullable=False, server_default="0"),
    Column("files", BigInteger, nullable=False, server_default="0"),
    Column("tokens", BigInteger, nullable=False, server_default="0"),
)
files = Table(
    "lexical_files", metadata,
    Column("id", BigInteger, file_ids, server_default=file_ids.next_value(), primary_key=True),
    Column("collection_id", Integer, ForeignKey("lexical_collections.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("file_type", Text, nullable=False),
    Column("stamp", Text, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    UniqueConstraint("collection_id", "path"),
)
chunks = Table(
    "lexical_chunks", metadata,
    Column("id", BigInteger, chunk_ids, server_default=chunk_ids.next_value(), primary_key=True),
    Column("collection_id", Integer, nullable=False),
    Column("file_id", BigInteger, nullable=False),
    Column("chunk_id", Text, nullable=False),
    Column("page", Integer, nullable=False),
    Column("tokens", Integer, nullable=False),
    UniqueConstraint("collection_id", "chunk_id"),
    Index("lexical_chunks_file", "file_id"),
)
terms = Table(
    "lexical_terms", metadata,
    Column("collection_id", Integer, nullable=False),
    Column("term", Text, nullable=False),
    Column("chunk", BigInteger, nullable=False),
    Column("file_id", BigInteger, nullable=False),
    Column("tf", Integer, nullable=False),
    Column("tokens", Integer, nullable=False),
    PrimaryKeyConstraint("collection_id", "term", "chunk", postgresql_include=["tf", "tokens", "file_id"]),
    Index("lexical_terms_file", "file_id"),
)
vocabulary = Table(
    "lexical_vocabulary", metadata,
    Column("collection_id", Integer, nullable=False),
    Column("term", Text, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("files", Integer, nullable=False),
    PrimaryKeyConstraint("collection_id", "term"),
)


@dataclass(frozen=True)
class PostgresTarget:
    """Where one collection's lexical index lives: the database URL and the collection's name."""

    url: str
    collection: str

    def __post_init__(self) -> None:
        driver_url(self.url)  # a malformed URL fails here, naming the setting

    def lock_key(self) -> int:
        """The advisory lock every writer of this collection's index holds (64 bits of its name)."""
        return _key(f"ragkit-lexical:{self.collection}")


def driver_url(url: str):
    """``url`` with the psycopg 3 driver (``postgresql://`` alone would ask SQLAlchemy for psycopg2)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"lexical_url: {url!r} is not a database URL; use postgresql+psycopg://user@host/dbname") from None
    if parsed.get_backend_name() not in SCHEMES:
        raise ConfigError(f"lexical_url: {parsed.render_as_string(hide_password=True)!r} is not a PostgreSQL URL; "
                          "use postgresql+psycopg://user@host/dbname")
    return parsed.set(drivername="postgresql+psycopg")


def _key(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


_SCHEMA_KEY = _key("ragkit-lexical-schema")
_engines: dict[str, "Engines"] = {}
_engines_lock = threading.Lock()


@dataclass(frozen=True)
class Engines:
    """This process's connections to one database. ``writes``: transactions of the writers.
    ``reads``: autocommit connections, so that a query is one round trip (a statement is its own
    snapshot); a query takes milliseconds, so a few connections serve many threads, and replicas
    times workers stay within the server's ``max_connections``. ``anchors``: one connection per
    open reader, holding its snapshot (:mod:`ragkit.stores.lexical.postgres_index`), made and
    closed with the reader rather than borrowed from a pool."""

    writes: Engine
    reads: Engine
    anchors: Engine

    def dispose(self) -> None:
        for engine in (self.writes, self.reads, self.anchors):
            engine.dispose()


def engines(url: str) -> Engines:
    """The engines for ``url``, made once per process, with the tables in place."""
    with _engines_lock:
        found = _engines.get(url)
        if found is None:
            target = driver_url(url)
            try:
                writes = create_engine(target, pool_size=2, max_overflow=4, pool_pre_ping=True)
            except ImportError:
                raise ConfigError("lexical_backend = 'postgres' needs psycopg: pip install 'ragkit[postgres]'") from None
            _create_tables(writes, target.render_as_string(hide_password=True))
            found = _engines[url] = Engines(
                # every pooled engine pings first: a PostgreSQL restart must not fail the next read
                writes, create_engine(target, pool_size=4, max_overflow=8, isolation_level="AUTOCOMMIT",
                                      pool_pre_ping=True),
                create_engine(target, poolclass=NullPool))
        return found


def _create_tables(engine: Engine, shown: str) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_KEY})
            metadata.create_all(conn, checkfirst=True)
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(f"lexical_url: cannot use the PostgreSQL database {shown!r} ({reason}); "
                          "check that the server runs and the URL, user and database are right") from None


def _forget_in_child() -> None:
    """A forked process must not share its parent's connections: it opens its own."""
    for found in _engines.values():
        for engine in (found.writes, found.reads, found.anchors):
            engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def dispose(url: str) -> None:
    """Close this process's connections to ``url`` (tests; a forked child must not reuse them)."""
    with _engines_lock:
        found = _engines.pop(url, None)
    if found is not None:
        found.dispose()
