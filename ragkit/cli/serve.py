"""CLI commands of the server (``ragkit serve``, ``ragkit keys``, ``ragkit logs``)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from ragkit.errors import RagkitError, UsageError

HomeOpt = Annotated[Path | None, typer.Option("--home", help="Knowledge-base directory (default: .ragkit).",
                                                  show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _home(home: Path | None) -> Path:
    from ragkit.config import load_settings

    return Path(load_settings(home=home).home)


def _fail(exc: RagkitError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=exc.exit_code)


def _db(home: Path | None):
    from ragkit.server.config import ServerConfig
    from ragkit.state.server import ServerState

    return ServerState(ServerConfig(home=_home(home)).state)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_chroma(path: Path) -> tuple[subprocess.Popen, str]:
    """A ``chroma run`` server for several workers: local Chroma cannot be shared between
    processes (a process does not see vectors another one wrote), a Chroma server can."""
    import urllib.request

    binary = Path(sys.executable).parent / "chroma"
    port = _free_port()
    process = subprocess.Popen([str(binary if binary.exists() else "chroma"), "run", "--host", "127.0.0.1",
                                "--port", str(port), "--path", str(path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            return process, url
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RagkitError("could not start the Chroma server needed for --workers > 1") from None
            time.sleep(0.2)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM ends ``ragkit serve`` as Ctrl-C does, with status 0. uvicorn shuts down gracefully
    on it (the ingest run stops at its next step, its files go back in the queue) and then raises
    the signal again for the handler it found; with the default one, that killed the process after
    the clean shutdown (status 143), which a service manager reports as a failure."""
    raise SystemExit(0)


def register(app: typer.Typer) -> None:
    """Add the server's commands to the ``ragkit`` CLI."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
        workers: Annotated[int, typer.Option(help="Worker processes (all state is on disk).", min=1)] = 1,
        home: HomeOpt = None,
        no_auth: Annotated[bool, typer.Option("--no-auth", help="Accept requests without a key (loopback only).")] = False,
        max_upload_mb: Annotated[int, typer.Option(help="Largest upload in MB.", min=1)] = 64,
        rate_limit: Annotated[int, typer.Option(help="Requests per minute per key (0: unlimited).", min=0)] = 600,
        request_timeout: Annotated[float, typer.Option(help="Seconds a request may take before its answer starts; then 504.")] = 120.0,
        redact_pii: Annotated[bool, typer.Option("--redact-pii", help="Mask personal data in the audit log.")] = False,
        default_vector_store: Annotated[str | None, typer.Option(help="Store for chat completions that name none.", show_default=False)] = None,
        answer_cache: Annotated[int, typer.Option(help="Answers cached per worker (0: off).", min=0)] = 256,
        log_level: Annotated[str, typer.Option(help="Log level of the web server (uvicorn).")] = "info",
    ) -> None:
        """Serve the OpenAI API (files, vector stores, search, Responses, Assistants, chat) and a web page over your documents."""
        import uvicorn

        from ragkit.server.config import ServerConfig, is_loopback
        from ragkit.server.http_protocol import JsonErrorProtocol

        try:
            if no_auth and not is_loopback(host):
                raise UsageError(f"--no-auth is only allowed on a loopback host (127.0.0.1, ::1), not {host!r}: "
                                 "create a key with `ragkit keys create NAME` instead")
            from ragkit.config import load_settings

            settings = load_settings(home=home)
            resolved = Path(settings.home).resolve()
            config = ServerConfig(home=resolved, host=host, port=port, workers=workers, no_auth=no_auth,
                                  max_upload_bytes=max_upload_mb * 1024 * 1024, rate_limit=rate_limit,
                                  request_timeout=request_timeout, redact_pii=redact_pii,
                                  default_vector_store=default_vector_store, answer_cache=answer_cache)
            chroma = None
            # a Chroma server the settings name (variable or ragkit.toml) is the one the workers share
            if workers > 1 and not settings.chroma_url:
                chroma, url = _start_chroma(resolved / "chroma")
                config = dataclasses.replace(config, chroma_url=url)
            os.environ.update(config.to_env())
            if not no_auth:
                from ragkit.server.keys import list_keys

                if not list_keys(_db(resolved)):
                    typer.echo(f"warning: no API keys yet; every request will get 401. Create one with "
                               f"`ragkit keys create NAME --home {resolved}`", err=True)
        except RagkitError as exc:
            raise _fail(exc) from None
        typer.echo(f"ragkit serve: http://{host}:{port}/v1 (home {resolved}, {workers} worker(s))", err=True)
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            if workers == 1:
                from ragkit.server.app import create_app

                uvicorn.run(create_app(config), host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=5, http=JsonErrorProtocol)
            else:
                uvicorn.run("ragkit.server.app:create_app_from_env", factory=True, host=host, port=port,
                            workers=workers, log_level=log_level, timeout_graceful_shutdown=5,
                            http=JsonErrorProtocol)
        finally:
            if chroma is not None:
                chroma.terminate()
                try:
                    chroma.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    chroma.kill()

    keys_app = typer.Typer(no_args_is_help=True, add_completion=False,
                           help="API keys for `ragkit serve`: stored hashed, shown once.")
    app.add_typer(keys_app, name="keys")

    @keys_app.command("create")
    def keys_create(
        name: Annotated[str, typer.Argument(help="A name for the key (shown in the audit log).")],
        scope: Annotated[str, typer.Option(help="read, write or admin.")] = "read",
        vector_store: Annotated[list[str], typer.Option("--vector-store", help="Limit the key to this store (repeatable).")] = [],
        rate_limit: Annotated[int | None, typer.Option(help="Requests per minute for this key (0: unlimited).", show_default=False)] = None,
        home: HomeOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Create a key. It is printed once: store it now."""
        from ragkit.server.keys import create_key

        try:
            created = create_key(_db(home), name, scope, vector_store, rate_limit)
        except RagkitError as exc:
            raise _fail(exc) from None
        if as_json:
            print(json.dumps(created, indent=2))
            return
        typer.echo(created["key"])
        typer.echo(f"key {created['name']!r} ({created['scope']}) created; it will not be shown again", err=True)

    @keys_app.command("list")
    def keys_list(
        home: HomeOpt = None,
        revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked keys.")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """List keys (names, scopes, stores; never the keys)."""
        from ragkit.server.keys import list_keys

        found = list_keys(_db(home), include_revoked=revoked)
        if as_json:
            print(json.dumps(found, indent=2))
            return
        for key in found:
            stores = ",".join(key["vector_stores"]) if key["vector_stores"] else "all stores"
            state = " (revoked)" if key["revoked_at"] else ""
            typer.echo(f"{key['name']}\t{key['prefix']}…\t{key['scope']}\t{stores}{state}")

    @keys_app.command("revoke")
    def keys_revoke(
        name: Annotated[str, typer.Argument(help="Name (or id) of the key to revoke.")],
        home: HomeOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Revoke a key: requests with it get 401 from now on."""
        from ragkit.server.keys import revoke_key

        try:
            revoked = revoke_key(_db(home), name)
        except RagkitError as exc:
            raise _fail(exc) from None
        if as_json:
            print(json.dumps(revoked, indent=2))
        else:
            typer.echo(f"revoked {revoked['name']!r}")

    @app.command()
    def logs(
        home: HomeOpt = None,
        follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new requests.")] = False,
        key: Annotated[str | None, typer.Option("--key", help="Only requests made with this key name.", show_default=False)] = None,
        endpoint: Annotated[str | None, typer.Option("--endpoint", help="Only endpoints containing this text.", show_default=False)] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Show the server's audit log (one line per request)."""
        from ragkit.server.config import ServerConfig
        from ragkit.state.audit import import_jsonl, read

        config = ServerConfig(home=_home(home))
        db = _db(home)
        import_jsonl(db, config.audit_path)  # a log the previous layout kept in a file
        try:
            for record in read(db, key=key, endpoint=endpoint, follow=follow):
                if as_json:
                    print(json.dumps(record, ensure_ascii=False), flush=True)
                    continue
                question = record.get("question")
                tail = f"  q={question!r}" if question else ""
                if record.get("refused"):
                    tail += " refused"
                print(f"{record.get('time', '')}  {record.get('request_id') or '-':<36} "
                      f"{record.get('key') or '-':<12} {record.get('method', ''):<6} "
                      f"{record.get('endpoint', ''):<48} {record.get('status', '')} "
                      f"{record.get('latency_ms', '')}ms{tail}", flush=True)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
