"""Fail any outbound connection that is not to the loopback interface.

ragkit must do its whole job offline; a hidden download (a model hub, tiktoken's BPE files,
telemetry) would otherwise pass unnoticed on a machine that happens to have network access.
"""

from __future__ import annotations

import ipaddress
import socket

_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex
_original_getaddrinfo = socket.getaddrinfo


class BlockedConnection(RuntimeError):
    pass


def _allowed(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self, address):
    if not _allowed(address):
        raise BlockedConnection(f"test network guard: connection to {address!r} blocked (offline tests)")
    return _original_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _allowed(address):
        raise BlockedConnection(f"test network guard: connection to {address!r} blocked (offline tests)")
    return _original_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost", "") and not _is_loopback_literal(host):
        raise BlockedConnection(f"test network guard: name lookup of {host!r} blocked (offline tests)")
    return _original_getaddrinfo(host, *args, **kwargs)


def _is_loopback_literal(host) -> bool:
    try:
        return ipaddress.ip_address(host if isinstance(host, str) else host.decode()).is_loopback
    except ValueError:
        return False


def install() -> None:
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.getaddrinfo = _guarded_getaddrinfo
