"""Write docs/configuration.md from the settings model itself, so the page cannot drift.

Every ``ragkit.config.Settings`` field becomes a row (name, environment variable, default,
meaning), as does every option of ``ragkit serve`` (read from the Typer command) and every field
of ``ragkit.server.config.ServerConfig`` (its ``#:`` comments). A field without a description in
the model takes its meaning from ``EXTRA_MEANINGS`` below; a field with neither fails the
generation, so a new setting cannot reach the page undescribed.

    .venv/bin/python docs/gen_config.py          # rewrite docs/configuration.md
    .venv/bin/python docs/gen_config.py --check  # exit 1 when the page is stale
"""

from __future__ import annotations

import ast
import inspect
import sys
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parent / "configuration.md"

#: meanings of the fields whose model declares no description
EXTRA_MEANINGS: dict[str, str] = {
    "pdf_password": "Password for encrypted PDFs (masked by `ragkit config`).",
    "mode": "Retrieval: hybrid (dense + BM25, fused), dense only, or BM25 only.",
    "fusion": "How the dense and BM25 scores are fused: convex (min-max normalised, weighted by alpha), "
              "adaptive (alpha moved per query towards the more decisive side) or reciprocal rank fusion.",
    "rrf_k": "The k of reciprocal rank fusion (fusion=rrf).",
    "top_k": "Chunks given to the answerer (and shown by search).",
    "mmr": "Diversify results with maximal marginal relevance.",
    "mmr_lambda": "Relevance against diversity in MMR (1: relevance only).",
    "model": "Chat model name (OpenAI or the server at base_url).",
    "base_url": "An OpenAI-compatible server (Ollama, vLLM, llama.cpp, ...).",
    "api_key": "API key of the chat model (masked by `ragkit config`).",
    "temperature": "Chat model sampling temperature.",
    "max_tokens": "Largest answer a chat model may write, in tokens.",
    "timeout": "Seconds a chat model request may take before it is retried.",
    "max_retries": "Retries of a chat model request on 429, 5xx and timeouts (exponential backoff).",
}


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|").replace("``", "`")


def _default(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, Path):
        return f"`{value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _kind(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(f"`{choice}`" for choice in typing.get_args(annotation))
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if args:
        return _kind(args[0])
    return getattr(annotation, "__name__", str(annotation)).replace("SecretStr", "secret")


def _env_names(name: str, field: Any) -> str:
    names = [f"RAGKIT_{name.upper()}"]
    alias = field.validation_alias
    for choice in getattr(alias, "choices", []) or []:
        if isinstance(choice, str) and choice.isupper() and choice not in names:
            names.append(choice)
    return ", ".join(f"`{n}`" for n in names)


def settings_rows() -> list[str]:
    from ragkit.config import Settings

    rows = ["| setting | environment | type | default | meaning |", "|---|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = field.description or EXTRA_MEANINGS.get(name)
        if not meaning:
            raise SystemExit(f"Settings.{name} has no description: add one to the model or to EXTRA_MEANINGS")
        rows.append(f"| `{name}` | {_env_names(name, field)} | {_kind(field.annotation)} | "
                    f"{_default(field.default)} | {_cell(meaning)} |")
    return rows


def serve_option_rows() -> list[str]:
    import typer.main

    from ragkit.cli import app

    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for param in command.params:
        flags = ", ".join(f"`{opt}`" for opt in param.opts)
        if param.is_flag:
            default = "off"
        else:
            default = "–" if param.default is None else _default(param.default)
        rows.append(f"| {flags} | {default} | {_cell(param.help or '')} |")
    return rows


def _field_comments(cls: type) -> dict[str, str]:
    """The ``#:`` comment lines right above each field of a dataclass."""
    lines, _ = inspect.getsourcelines(cls)
    comments: dict[str, str] = {}
    for node in ast.parse(inspect.getsource(cls)).body[0].body:  # type: ignore[attr-defined]
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above: list[str] = []
            index = node.lineno - 2
            while index >= 0 and lines[index].strip().startswith("#:"):
                above.insert(0, lines[index].strip()[2:].strip())
                index -= 1
            comments[node.target.id] = " ".join(above)
    return comments


def server_config_rows() -> list[str]:
    from ragkit.server.config import ENV_PREFIX, ServerConfig

    comments = _field_comments(ServerConfig)
    rows = ["| field | environment | default | meaning |", "|---|---|---|---|"]
    for field in fields(ServerConfig):
        default = None if field.default is MISSING else field.default
        meaning = comments.get(field.name) or f"`ragkit serve --{field.name.replace('_', '-')}`"
        rows.append(f"| `{field.name}` | `{ENV_PREFIX}{field.name.upper()}` | {_default(default)} | {_cell(meaning)} |")
    return rows


INTRO = """# Configuration

<!-- generated by docs/gen_config.py from ragkit/config.py and ragkit serve; do not edit by hand -->

One settings object (pydantic-settings, `ragkit/config.py`). Precedence, highest first: CLI flags
and keyword arguments (`KnowledgeBase(top_k=8)`), `RAGKIT_*` environment variables, `ragkit.toml`
in the working directory (or the file named by `RAGKIT_CONFIG`), then the defaults below.
`ragkit config` prints the effective values with secrets masked.

```toml
# ragkit.toml
home = ".ragkit"
collection = "default"
chunk_size = 200
top_k = 5
model = "gpt-4.1-mini"
base_url = "http://127.0.0.1:11434/v1"
```

A collection records the embedder that built it and whether it was built with context lines;
opening it with another embedder is an error that says how to keep it or re-ingest
("collection … was built with embedder …, but … is configured; … Either keep the old embedder
(RAGKIT_EMBEDDER=…), or re-ingest with the new one into another collection").
The defaults that change answers (chunk size, top-k, fusion, refusal thresholds) were chosen from
the measurements in [evaluation.md](evaluation.md).
"""

SERVER_INTRO = """
## `ragkit serve` options

Retrieval and generation settings above apply to the server too (each worker reads them the
usual way). These are the server's own:
"""

SERVER_ENV_INTRO = """
## Server settings passed to worker processes

`ragkit serve` hands its options to every worker process as `RAGKIT_SERVE_*` environment
variables (uvicorn starts `--workers N` processes by importing an app factory). Setting them by
hand is rarely needed; `chroma_url` is filled in by `serve` itself for `--workers` > 1.
"""


def render() -> str:
    parts = [INTRO, "## Settings\n", *settings_rows(), SERVER_INTRO, *serve_option_rows(),
             SERVER_ENV_INTRO, *server_config_rows()]
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is stale: run .venv/bin/python docs/gen_config.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
