"""A real PostgreSQL server for the tests, started from Debian's binaries in a temp directory.

The state layer and the shared-storage backend are tested against the database they target, not a
stand-in: :class:`PostgresServer` runs ``initdb`` and ``pg_ctl`` on a free port of 127.0.0.1 with
trust authentication and a socket directory of its own, so it never touches a system cluster.
PostgreSQL refuses to run as root; under root (CI) the server runs as the ``postgres`` user that
Debian's package creates, and its files live in a directory of their own under the system temp
dir rather than under pytest's: every pytest session closes ``/tmp/pytest-of-root`` to its owner
(mode 0700), which would lock a server out of its data mid-test whenever two sessions overlap.
``make test`` installs the package when ``initdb`` is missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

#: where Debian puts each major version's server binaries
DEBIAN_BIN = Path("/usr/lib/postgresql")


def binaries() -> Path | None:
    """The newest installed server's bin directory (None: PostgreSQL is not installed)."""
    if DEBIAN_BIN.is_dir():
        versions = sorted((p for p in DEBIAN_BIN.iterdir() if (p / "bin" / "initdb").exists()),
                          key=lambda p: int(p.name) if p.name.isdigit() else 0)
        if versions:
            return versions[-1] / "bin"
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """One throwaway server; :meth:`database` makes a fresh database on it and returns its URL."""

    def __init__(self, root: Path) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed: run `make test` (it installs Debian's postgresql) "
                               "or apt-get install postgresql")
        self.bin = bin_dir
        self._user = "postgres" if os.geteuid() == 0 else None
        # the postgres user must reach its files: under root they get a temp dir of their own
        self._own_root = self._user is not None
        self.root = Path(tempfile.mkdtemp(prefix="ragkit-pg-")) if self._own_root else root
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.port = _free_port()

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._user:
            command = ["runuser", "-u", self._user, "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> "PostgresServer":
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if self._user:
            entry = pwd.getpwnam(self._user)
            for path in (self.root, self.sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            # runuser must be able to reach the temp dir: open the path's parents for traversal
            for parent in self.root.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C")
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")
        return self

    def restart(self) -> None:
        """Stop the server (closing every client's connection, as a restart or failover does) and
        start it again on the same port and data."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "restart")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for ``database`` (psycopg 3 driver)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def database(self, prefix: str = "ragkit") -> str:
        """Create a new, empty database and return its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
                  "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
