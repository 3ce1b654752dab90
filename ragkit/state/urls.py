"""Where a home's state database lives: ``<home>/ragkit.sqlite``, or the configured URL.

The setting is a SQLAlchemy URL (``database_url`` in ``ragkit.toml``, ``RAGKIT_DATABASE_URL`` in
the environment). Two kinds are served:

* ``sqlite:///<file>``: a database file (the default is ``<home>/ragkit.sqlite``);
* ``postgresql+psycopg://user:password@host:port/database`` (``postgresql://`` means the same
  driver): a database on a PostgreSQL server, shared by every process and host that names it.
  It needs the psycopg driver, ``pip install 'ragkit[postgres]'``.

Anything else -- another driver, another database, a SQLite URL without a file -- is refused up
front with the setting's name, rather than failing on the first query.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ragkit.errors import ConfigError

#: the database file of a home when no URL is configured
FILENAME = "ragkit.sqlite"
SETTING = "database_url (RAGKIT_DATABASE_URL)"
_SQLITE_DRIVERS = ("pysqlite",)
_POSTGRES_DRIVERS = ("psycopg",)
_EXAMPLES = f"sqlite:///path/to/{FILENAME} or postgresql+psycopg://user:password@host:5432/ragkit"


def configured_url() -> str | None:
    """The URL the settings name (environment, ``ragkit.toml``), if any."""
    from ragkit.config import load_settings

    return load_settings().database_url


def home_url(home: Path, configured: str | None = None) -> URL:
    """The URL of ``home``'s database: ``configured`` (or the settings' URL) else the default file."""
    raw = configured if configured is not None else configured_url()
    if raw is None:
        return file_url(Path(home) / FILENAME)
    return checked_url(raw)


def file_url(path: Path) -> URL:
    """A SQLite URL for a database file (made absolute: a later ``chdir`` must not move it)."""
    return URL.create("sqlite", database=str(Path(path).absolute()))


def checked_url(raw: str | URL) -> URL:
    """``raw`` parsed and checked: a SQLite URL naming a file or a PostgreSQL URL with the psycopg
    driver (``postgresql://`` gets it), or a :class:`ConfigError` naming the setting."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"{SETTING}: {str(raw)!r} is not a database URL; use {_EXAMPLES}, "
                          "or leave it unset for <home>/" + FILENAME) from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        return _postgres(url)
    shown = url.render_as_string(hide_password=True)
    if backend != "sqlite" or url.get_driver_name() not in _SQLITE_DRIVERS:
        raise ConfigError(f"{SETTING}: {shown!r} is not supported; ragkit keeps its state in SQLite or "
                          f"PostgreSQL (psycopg driver): {_EXAMPLES}")
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise ConfigError(f"{SETTING}: {shown!r} names no database file; each thread and process opens its "
                          f"own connection, so the state needs a file (sqlite:///path/to/{FILENAME})")
    return url.set(database=str(Path(url.database).absolute()))


def _postgres(url: URL) -> URL:
    shown = url.render_as_string(hide_password=True)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_driver_name() not in _POSTGRES_DRIVERS:
        raise ConfigError(f"{SETTING}: {shown!r} names the {url.get_driver_name()} driver; ragkit talks to "
                          "PostgreSQL through psycopg 3: postgresql+psycopg://user:password@host:5432/ragkit")
    if not url.database:
        raise ConfigError(f"{SETTING}: {shown!r} names no database; add it after the host "
                          "(postgresql+psycopg://user:password@host:5432/ragkit)")
    try:
        import psycopg  # noqa: F401 - only whether it is there
    except ImportError:
        raise ConfigError(f"{SETTING}: {shown!r} needs the PostgreSQL driver psycopg, which is not installed: "
                          "pip install 'ragkit[postgres]'") from None
    return url


def database_path(url: URL) -> Path | None:
    """The file a checked SQLite URL names (None: a database server's URL)."""
    return Path(str(url.database)) if url.get_backend_name() == "sqlite" else None
