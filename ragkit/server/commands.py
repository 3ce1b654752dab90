"""CLI commands of the server (``ragkit serve``, ``ragkit keys``, ``ragkit logs``)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the server's commands to the ``ragkit`` CLI."""
