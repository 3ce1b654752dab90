"""The ``ragkit`` command: a thin shell over :class:`ragkit.api.KnowledgeBase`.

Expected failures (:class:`ragkit.errors.RagkitError`) print one line on stderr and exit with
their code (1, or 2 for usage/config errors); they never print a stack trace.

The commands live in one module per area (documents, query, evaluate); the server adds its own
(``ragkit serve``, ``keys``, ``logs``) through :func:`ragkit.cli.serve.register`.
"""

from __future__ import annotations

import sys

from ragkit.cli import documents, evaluate, query  # noqa: F401 - importing registers the commands
from ragkit.cli import chat  # noqa: F401, I001 - registered after ask, so help lists it there
from ragkit.cli.app import app, err
from ragkit.errors import RagkitError

__all__ = ["app", "main"]


def _register_plugins() -> None:
    from ragkit.cli.serve import register

    register(app)


_register_plugins()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except RagkitError as exc:  # pragma: no cover - commands catch their own
        err.print(f"error: {exc}")
        sys.exit(exc.exit_code)
    except OSError as exc:  # a directory that cannot be created, a full disk: one line, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        err.print(f"[bold red]error:[/] {exc.strerror or exc}{where}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
