"""Where a home's state database lives: ``<home>/ragkit.sqlite``, or the configured URL.

The setting is a SQLAlchemy URL (``database_url`` in ``ragkit.toml``, ``RAGKIT_DATABASE_URL`` in
the environment) so that a server database can be named the same way later. This version runs
every query through SQLite's own driver, so only ``sqlite:///<file>`` URLs are accepted; anything
else is refused up front with the setting's name rather than failing on the first query.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ragkit.errors import ConfigError

#: the database file of a home when no URL is configured
FILENAME = "ragkit.sqlite"
SETTING = "database_url (RAGKIT_DATABASE_URL)"
_DRIVERS = ("pysqlite",)


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
    """``raw`` parsed and checked: a SQLite URL naming a file, or a :class:`ConfigError`."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"{SETTING}: {str(raw)!r} is not a database URL; use sqlite:///path/to/{FILENAME} "
                          "or leave it unset for <home>/" + FILENAME) from None
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() != "sqlite" or url.get_driver_name() not in _DRIVERS:
        raise ConfigError(f"{SETTING}: {shown!r} is not a SQLite URL; only SQLite URLs "
                          f"(sqlite:///path/to/{FILENAME}) are supported by this version of ragkit")
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise ConfigError(f"{SETTING}: {shown!r} names no database file; each thread and process opens its "
                          f"own connection, so the state needs a file (sqlite:///path/to/{FILENAME})")
    return url.set(database=str(Path(url.database).absolute()))


def database_path(url: URL) -> Path:
    """The file a checked SQLite URL names."""
    return Path(str(url.database))
