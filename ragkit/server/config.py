"""Server settings: what ``ragkit serve`` was started with, passed to every worker process.

Uvicorn starts ``--workers N`` processes by importing an app factory, so the settings travel as
``RAGKIT_SERVE_*`` environment variables (:meth:`ServerConfig.to_env` / :meth:`from_env`), the one
channel that reaches a freshly spawned worker. Retrieval and generation settings (model,
base_url, top_k, ...) stay in :mod:`ragkit.config` and are read by each worker the usual way.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ragkit.state import StateDB, open_home

MB = 1024 * 1024
ENV_PREFIX = "RAGKIT_SERVE_"


@dataclass(frozen=True)
class ServerConfig:
    home: Path = Path(".ragkit")
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    no_auth: bool = False
    #: multipart uploads larger than this are refused with 413
    max_upload_bytes: int = 64 * MB
    #: JSON bodies larger than this are refused with 413 (questions are short; 1 MB is generous)
    max_json_bytes: int = 1 * MB
    #: requests per minute per API key (0: unlimited); a key may carry its own limit
    rate_limit: int = 600
    #: seconds before a request that has not started its response is answered 504
    request_timeout: float = 120.0
    #: mask e-mails, phone numbers, card numbers, IBANs and SSNs in the audit log
    redact_pii: bool = False
    #: answer chat completions over this store when the request names none
    default_vector_store: str | None = None
    #: a ``chroma run`` server shared by all workers (set by ``serve`` for --workers > 1)
    chroma_url: str | None = None
    #: answers kept in memory per worker, keyed by collection generation and request
    answer_cache: int = 256
    #: how long a polling client is told to wait before asking again (openai-poll-after-ms)
    poll_after_ms: int = 200

    @property
    def server_dir(self) -> Path:
        return self.home / "server"

    @property
    def state(self) -> StateDB:
        """The home's state database (``<home>/ragkit.sqlite``, or the SQLite file or PostgreSQL
        database ``database_url`` names), which holds the server's tables too. Resolving it opens
        the database -- creates or migrates it and imports a previous layout's files."""
        return open_home(self.home)

    @property
    def db_path(self) -> Path | None:
        """The state database's file (None: it is a PostgreSQL database)."""
        return self.state.path

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    @property
    def audit_path(self) -> Path:
        return self.server_dir / "audit.jsonl"

    def to_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            env[ENV_PREFIX + f.name.upper()] = str(int(value)) if isinstance(value, bool) else str(value)
        return env

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServerConfig:
        environ = dict(os.environ if environ is None else environ)
        config = cls()
        updates: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            default = getattr(config, f.name)
            if isinstance(default, bool):
                updates[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                updates[f.name] = int(raw)
            elif isinstance(default, float):
                updates[f.name] = float(raw)
            elif isinstance(default, Path):
                updates[f.name] = Path(raw)
            else:
                updates[f.name] = raw or None
        return replace(config, **updates)


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost).

    ``--no-auth`` is refused otherwise: an unauthenticated server must not be reachable from
    the network, and 0.0.0.0 / :: listen on every interface."""
    if host.lower() == "localhost":
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
