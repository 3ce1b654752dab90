"""One settings object for the whole kit.

Precedence, highest first: explicit values (CLI flags or keyword arguments), ``RAGKIT_*``
environment variables, ``ragkit.toml`` in the working directory (or the file named by
``RAGKIT_CONFIG``), then the defaults below. Defaults that change answers (chunk size,
top-k, fusion, refusal threshold) were chosen from the evaluation runs documented in the
README, not guessed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ragkit.errors import ConfigError

#: English text makes about 1.2 word pieces per cl100k token; used to warn about truncation.
WORDPIECES_PER_TIKTOKEN = 1.2


class ChunkTruncationWarning(UserWarning):
    """The configured chunk size is larger than the embedder can read."""


def wordpieces_for(chunk_tokens: int) -> int:
    """About how many model (word-piece) tokens a chunk of ``chunk_tokens`` cl100k tokens makes."""
    return int(chunk_tokens * WORDPIECES_PER_TIKTOKEN)


def _config_file() -> Path:
    return Path(os.environ.get("RAGKIT_CONFIG", "ragkit.toml"))


class Settings(BaseSettings):
    """Effective configuration. Field names map to ``RAGKIT_<NAME>`` and to ``ragkit.toml`` keys."""

    model_config = SettingsConfigDict(
        env_prefix="RAGKIT_",
        extra="forbid",
        validate_default=True,
        populate_by_name=True,
    )

    # -- where things live -------------------------------------------------------------
    home: Path = Field(Path(".ragkit"), description="Knowledge-base directory (Chroma data, manifest, BM25).")
    collection: str = Field("default", description="Collection inside the knowledge base.")
    chroma_url: str | None = Field(None, description="Use a `chroma run` server instead of the local store.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the state database (manifest, threads, server objects): "
                          "sqlite:///path/to/file.sqlite, or postgresql+psycopg://user:password@host:5432/db "
                          "(`postgresql://` means the same; needs the 'postgres' extra) for one database shared "
                          "by several processes and hosts. Default sqlite:///<home>/ragkit.sqlite; `state_url` "
                          "is accepted as another name for it.")

    # -- ingestion ---------------------------------------------------------------------
    embedder: Literal["minilm-onnx", "bge-onnx", "openai"] = Field(
        "minilm-onnx", description="bge-onnx (bge-small-en-v1.5, needs the 'bge' extra): NFCorpus dense nDCG@10 "
                                   "+0.018 dev / +0.022 test, hybrid +0.000 dev / +0.004 test, ingest about twice as "
                                   "slow on a busy CPU (bench/nfcorpus_full.py).")
    embedding_model: str = Field("text-embedding-3-small", description="Model name for the openai embedder.")
    chunk_size: int = Field(200, ge=16, description="Chunk size in cl100k tokens.")
    chunk_overlap: int = Field(40, ge=0, description="Overlap between chunks in cl100k tokens.")
    embed_batch_size: int = Field(8, ge=1, le=256, description="Texts per ONNX run: 8 was as fast as 16 and used 30% less memory.")
    parse_workers: int = Field(1, ge=0, description="Parser processes running beside the embedder (0: parse inline).")
    chunk_context: bool = Field(True, description="Embed and index each chunk with its document name, title and section.")
    ingest_window: int = Field(512, ge=1, description="Chunks per embedding pass and store commit.")
    max_file_tokens: int = Field(
        5_000_000, ge=0, description="A file with more cl100k tokens than this fails with a reason instead of being "
                                     "embedded (0: no limit). OpenAI's own limit per file; about 15 min of embedding "
                                     "at the 5,600 tokens/s of docs/benchmarks.md.")
    pdf_password: SecretStr | None = None
    ocr: bool = Field(True, description="Recognise text on PDF pages without a text layer (offline OCR).")
    ocr_max_pages: int = Field(50, ge=0, description="At most this many pages of one file are OCRed.")
    ocr_seconds: float = Field(
        600.0, gt=0, description="OCR of one file stops after this many seconds (a dense page takes about 11 s on "
                                 "one thread, so 600 lets ocr_max_pages bind first; bench/ocr_cer.py).")
    keep_furniture: bool = Field(False, description="Keep lines repeated on most PDF pages (headers, footers).")
    docx_comments: bool = Field(True, description="Index DOCX reviewers' comments as a section.")
    docx_headers_footers: bool = Field(False, description="Index DOCX header and footer text as a section.")

    # -- retrieval ---------------------------------------------------------------------
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    lexical_backend: Literal["tantivy", "bm25s", "postgres"] = Field(
        "tantivy", description="BM25 index: tantivy (updated file by file) or bm25s (rebuilt whole on every change), "
                               "in <home>/bm25; postgres: in the database of lexical_url, shared by every replica.")
    lexical_url: str | None = Field(
        None, description="PostgreSQL URL (postgresql+psycopg://user@host/dbname) of the BM25 index for "
                          "lexical_backend=postgres; default: database_url when that is a PostgreSQL URL.")
    fusion: Literal["adaptive", "convex", "rrf"] = "convex"
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="Weight of the dense side in convex fusion.")
    rrf_k: int = Field(60, ge=1)
    infer_scope: bool = Field(False, description="Search only the documents a question names by year or name, when it names some.")
    doc_weight: float = Field(0.0, ge=0.0, le=1.0, description="Weight of whole-document BM25 evidence in hybrid scores.")
    top_k: int = Field(5, ge=1, le=100)
    reranker: Literal["none", "proximity", "sentences", "http", "cross-encoder"] = Field(
        "none", description="Second-stage scorer over the fused candidates (cross-encoder: offline, needs the 'bge' extra).")
    rerank_depth: int = Field(20, ge=1, le=200, description="Fused candidates the cross-encoder scores, chosen on "
                              "NFCorpus dev (324 queries) over 10 and 20 with the default embedder (bench/nfcorpus_full.py).")
    rerank_url: str | None = Field(None, description="The /rerank endpoint for reranker=http.")
    rerank_model: str | None = Field(None, description="Model name sent to the /rerank endpoint.")
    mmr: bool = False
    mmr_lambda: float = Field(0.7, ge=0.0, le=1.0)
    refusal_threshold: float = Field(
        0.25, ge=-1.0, le=1.0,
        description="Refuse without generating when the best chunk's dense cosine similarity is below this "
                    "(for extractive answers, unless the quote holds nearly every word of the question).",
    )
    refuse_unknown_terms: bool = Field(
        True, description="Extractive answers refuse when the question names something no document mentions, "
                    "or a year that none of the retrieved documents mentions.")
    min_coverage: float = Field(
        0.35, ge=0.0, le=1.0,
        description="Extractive answers refuse when the quoted sentences cover less of the question than this "
                    "(0.35: the largest value keeping false refusals at or under 10% on the sample corpus, "
                    "HotpotQA and XQuAD; bench/calibrate_refusal.py).",
    )
    refusal_evidence: Literal["cross-encoder", "off"] = Field(
        "off", description="cross-encoder: refuse when the offline cross-encoder and the question coverage say the "
                           "passages do not answer (needs the 'bge' extra, else the rules above apply). Off: better on "
                           "HotpotQA/XQuAD, not on MMLongBench; docs/evaluation-refusal.md.")

    # -- generation --------------------------------------------------------------------
    generator: Literal["auto", "extractive", "openai"] = Field(
        "auto", description="auto: the chat model when an API key or base_url is set, else extractive."
    )
    model: str = "gpt-4.1-mini"
    base_url: str | None = Field(None, validation_alias=AliasChoices("base_url", "RAGKIT_BASE_URL", "OPENAI_BASE_URL"))
    api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("api_key", "RAGKIT_API_KEY", "OPENAI_API_KEY"))
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1)
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    concurrency: int = Field(4, ge=1, le=64, description="Questions answered at once by ask --batch and eval with a chat model.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]", value):
            raise ValueError(
                "collection must be 3-512 characters of letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _state_url_is_database_url(cls, data: Any) -> Any:
        # Another name for the same setting; not an alias, because an alias would also be read
        # from an unprefixed STATE_URL / DATABASE_URL environment variable meant for other programs.
        if isinstance(data, dict) and "state_url" in data:
            data = dict(data)
            state_url = data.pop("state_url")
            data.setdefault("database_url", state_url)
        return data

    @model_validator(mode="after")
    def _chunking_fits(self) -> "Settings":
        # Whether chunks fit the embedder's window is checked when ingesting, where the
        # embedder (and so its max_tokens) is known.
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})")
        return self

    @model_validator(mode="after")
    def _lexical_url_fits(self) -> "Settings":
        if self.lexical_url is not None and not _is_postgres_url(self.lexical_url):
            raise ValueError(f"lexical_url must be a PostgreSQL URL such as postgresql+psycopg://user@host/dbname, "
                             f"not {_shown(self.lexical_url)!r}")
        if self.lexical_url is not None and self.lexical_backend != "postgres":
            raise ValueError(f"lexical_url is set but lexical_backend is {self.lexical_backend!r}: set "
                             "lexical_backend = 'postgres' to keep the BM25 index there, or unset lexical_url")
        if self.lexical_backend == "postgres" and self.lexical_database_url is None:
            raise ValueError("lexical_backend = 'postgres' needs a PostgreSQL database: set lexical_url "
                             "(RAGKIT_LEXICAL_URL), or database_url, to postgresql+psycopg://user@host/dbname")
        return self

    # -- derived -----------------------------------------------------------------------
    @property
    def lexical_database_url(self) -> str | None:
        """Where the postgres lexical backend keeps the index: lexical_url, else database_url when
        that is a PostgreSQL URL (one shared database for everything but the vectors); None for
        the backends kept in a directory."""
        if self.lexical_backend != "postgres":
            return None
        if self.lexical_url is not None:
            return self.lexical_url
        return self.database_url if _is_postgres_url(self.database_url) else None

    @property
    def uses_chat_model(self) -> bool:
        if self.generator == "auto":
            return self.api_key is not None or self.base_url is not None
        return self.generator == "openai"

    def display(self) -> dict[str, Any]:
        """The effective settings as plain values, secrets masked."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "****" if value.get_secret_value() else ""
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, str) and "://" in value and "@" in value:
                value = _shown(value)  # a database or server URL: its password masked
            shown[name] = value
        return shown


def _is_postgres_url(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0].split("+", 1)[0].lower() in ("postgresql", "postgres")


def _shown(url: str) -> str:
    """``url`` without its password, for messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


def _read_config_file() -> dict[str, Any]:
    """The keys of ``ragkit.toml`` (or of the file ``RAGKIT_CONFIG`` names), checked before
    pydantic reads it: a file that is not TOML, or a ``RAGKIT_CONFIG`` naming no file, is one
    :class:`ConfigError` naming the file, never a traceback or a silently ignored file."""
    import tomllib

    path = _config_file()
    if not path.is_file():
        if "RAGKIT_CONFIG" in os.environ:
            raise ConfigError(f"RAGKIT_CONFIG names {path}, which is not a file: fix the path or unset RAGKIT_CONFIG")
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _env_names(name: str) -> list[str]:
    field = Settings.model_fields.get(name)
    alias = field.validation_alias if field is not None else None
    choices = [c for c in getattr(alias, "choices", []) if isinstance(c, str) and c.isupper()]
    return choices or [f"RAGKIT_{name.upper()}"]


def _source_of(name: str, overrides: dict[str, Any], from_file: dict[str, Any]) -> str:
    """Where the value of setting ``name`` came from, in words a user can act on."""
    if name in overrides:
        return "a command-line option or keyword argument"
    secret = name in ("api_key", "pdf_password")
    for variable in _env_names(name):
        if variable in os.environ:
            return variable if secret else f"{variable}={os.environ[variable]!r}"
    if name in from_file:
        return str(_config_file())
    return ""


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation failures into one readable :class:`ConfigError` that
    names each bad setting and where its value came from (option, variable or file)."""
    from pydantic import ValidationError

    clean = {k: v for k, v in overrides.items() if v is not None}
    from_file = _read_config_file()
    try:
        return Settings(**clean)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown setting"
            source = _source_of(name, clean, from_file) if name else ""
            problems.append((f"{name}: {message}" if name else message) + (f" (from {source})" if source else ""))
        hint = "" if all("(from " in p for p in problems) else \
            f" (check the options, RAGKIT_* variables and {_config_file()})"
        raise ConfigError(f"invalid configuration: {'; '.join(problems)}{hint}") from None
