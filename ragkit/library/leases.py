"""Claims on the ingest queue as leases: who holds a claim, how it stays alive, when it is abandoned.

A worker claims files by writing its owner id into their ``vs_files`` rows (:mod:`ragkit.state.queue`).
Replicas on several hosts share that queue, so the id names the host as well as the process
(``<host>:<pid>:<random>``: a pid alone is ambiguous across hosts, and the random part tells a
restarted worker from an earlier one with a reused pid). While a worker holds claims, a
:class:`Heartbeat` thread renews their ``claimed_at`` every :data:`HEARTBEAT_SECONDS`.

A claim is abandoned -- any worker puts it back in the queue, counting an attempt -- when

* its owner ran on this host and its process is gone (the fast check: a ``kill -9`` seen at once), or
* its lease expired: not renewed for :data:`LEASE_SECONDS`, whatever host it came from (a host that
  crashed, lost its network, or was killed with the whole container).

Lease times are compared across hosts with each host's own clock, so the hosts' clocks must agree
to within a few seconds (NTP does far better); a lease several heartbeats long absorbs the rest.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("ragkit.library")

#: seconds between renewals of a worker's claims while it holds any
HEARTBEAT_SECONDS = 5.0
#: seconds after its last renewal that a claim counts as abandoned. Six heartbeats: a worker
#: whose renewal is late (a busy database, a slow write behind another replica's, a long GC pause)
#: keeps its files, while a dead host's files wait at most half a minute before another replica
#: takes them over -- short next to an ingest run, which re-does the file from its last commit.
LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class Owner:
    """A worker's identity in its claims."""

    host: str
    pid: int
    token: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    @classmethod
    def new(cls) -> Owner:
        """This process's worker: unique across processes and hosts."""
        return cls(this_host(), os.getpid(), secrets.token_hex(6))

    @classmethod
    def parse(cls, text: str) -> Owner:
        """The owner written in a claim. Claims written before owners named their host
        (``<pid>:<token>``) came from this host: there was only one."""
        parts = text.rsplit(":", 2)
        if len(parts) == 2:
            parts = [this_host(), *parts]
        host, pid, token = parts if len(parts) == 3 else (this_host(), "", text)
        return cls(host, int(pid) if pid.isdigit() else -1, token)


def this_host() -> str:
    return socket.gethostname()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def abandoned(claimed_by: str, claimed_at: float | None, me: Owner, now: float,
              lease: float = LEASE_SECONDS) -> bool:
    """Is a claim held by someone other than ``me`` to be taken back at time ``now``?"""
    if claimed_by == str(me):
        return False
    if claimed_at is None or now - claimed_at > lease:
        return True
    owner = Owner.parse(claimed_by)
    if owner.host != me.host:
        return False  # another host's worker, renewing its lease
    # this host: an earlier worker of this very process is gone; another process, if it died
    return owner.pid == me.pid or owner.pid <= 0 or not _alive(owner.pid)


class Heartbeat:
    """A thread renewing the worker's claims every :data:`HEARTBEAT_SECONDS` while it holds any
    (``holding`` says whether it does), so that other replicas see the lease is alive."""

    def __init__(self, renew: Callable[[], object], holding: Callable[[], bool],
                 every: float = HEARTBEAT_SECONDS) -> None:
        self._renew = renew
        self._holding = holding
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ragkit-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            if not self._holding():
                continue
            try:
                self._renew()
            except Exception:  # noqa: BLE001 - the database unreachable: renew at the next beat
                log.exception("renewing this worker's claims")
