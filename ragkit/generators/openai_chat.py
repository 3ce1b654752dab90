"""Chat completions through the official ``openai`` SDK: OpenAI, or any compatible server via ``base_url``.

Retries: the SDK retries 408/409/429/5xx and connection errors with exponential backoff and
jitter (``max_retries``, ``timeout`` from settings). When they are exhausted the caller falls back
to the extractive answer with a visible warning (:class:`TransientModelError`). A bad key, an
unknown model or a rejected request cannot be fixed by retrying and becomes one clear
:class:`~ragkit.errors.GeneratorError`. The API key is never printed or logged.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

from ragkit.errors import GeneratorError, RagkitError
from ragkit.generators.base import Generation, TokenCallback
from ragkit.prompts import PROMPT_VERSION, system_prompt, user_prompt
from ragkit.retrieve import SearchHit

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.config import Settings

log = logging.getLogger("ragkit.openai")


class TransientModelError(RagkitError):
    """The model could not be reached or kept failing after retries (rate limit, 5xx, timeout)."""


def make_client(settings: "Settings"):
    from openai import OpenAI

    key = settings.api_key.get_secret_value() if settings.api_key else None
    if not key:
        if not settings.base_url:
            raise GeneratorError("no API key: set OPENAI_API_KEY (or RAGKIT_API_KEY), or a base_url for a local server")
        key = "not-needed"  # local OpenAI-compatible servers usually ignore the key, the SDK requires one
    return OpenAI(api_key=key, base_url=settings.base_url, timeout=settings.timeout, max_retries=settings.max_retries)


def translate_api_error(exc: Exception, *, what: str) -> Exception:
    """Map SDK exceptions onto ragkit's: permanent -> GeneratorError, transient -> TransientModelError."""
    import openai

    status = getattr(exc, "status_code", None)
    if isinstance(exc, openai.AuthenticationError):
        return GeneratorError(f"the API rejected the key for {what} (401): check OPENAI_API_KEY / RAGKIT_API_KEY")
    if isinstance(exc, openai.PermissionDeniedError):
        return GeneratorError(f"permission denied for {what} (403)")
    if isinstance(exc, openai.NotFoundError):
        return GeneratorError(f"{what} not found on the server (404): check the model name and base_url")
    if isinstance(exc, (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                        openai.APIConnectionError)):
        kind = "timed out" if isinstance(exc, openai.APITimeoutError) else (
            "could not connect" if isinstance(exc, openai.APIConnectionError) else f"HTTP {status}")
        return TransientModelError(f"{what}: {kind} after retries")
    if isinstance(exc, openai.APIStatusError):
        if status is not None and status >= 500:
            return TransientModelError(f"{what}: HTTP {status} after retries")
        return GeneratorError(f"{what} rejected the request (HTTP {status}): {_short(exc)}")
    return exc


def _short(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return message.splitlines()[0][:200]


class OpenAIChatGenerator:
    name = "openai"

    def __init__(self, client, *, model: str, temperature: float = 0.0, max_tokens: int = 512) -> None:
        self.client = client
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.prompt_version = PROMPT_VERSION

    @classmethod
    def from_settings(cls, settings: "Settings") -> "OpenAIChatGenerator":
        return cls(make_client(settings), model=settings.model, temperature=settings.temperature,
                   max_tokens=settings.max_tokens)

    def messages(self, question: str, sources: Sequence[SearchHit]) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": system_prompt(self.prompt_version)},
            {"role": "user", "content": user_prompt(question, sources, self.prompt_version)},
        ]

    def generate(
        self, question: str, sources: Sequence[SearchHit], *, on_token: TokenCallback | None = None
    ) -> Generation:
        request = dict(model=self.model, messages=self.messages(question, sources),
                       temperature=self.temperature, max_tokens=self.max_tokens)
        try:
            if on_token is None:
                response = self.client.chat.completions.create(**request)
                text = response.choices[0].message.content or ""
                usage = _usage(response.usage)
            else:
                text, usage = self._stream(request, on_token)
        except RagkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated below, unknown ones re-raised
            translated = translate_api_error(exc, what=f"model {self.model!r}")
            if translated is exc:
                raise
            raise translated from None
        refused = "could not find the answer in the documents" in text.lower()
        return Generation(text=text, generator=self.name, model=self.model, usage=usage, refused=refused)

    def _stream(self, request: dict, on_token: TokenCallback) -> tuple[str, dict[str, int]]:
        stream = self.client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
        parts: list[str] = []
        usage: dict[str, int] = {}
        for event in stream:
            if event.usage is not None:
                usage = _usage(event.usage)
            for choice in event.choices or []:
                delta = choice.delta.content if choice.delta else None
                if delta:
                    parts.append(delta)
                    on_token(delta)
        return "".join(parts), usage


def _usage(usage) -> dict[str, int]:
    if usage is None:
        return {}
    return {
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
        "total_tokens": int(getattr(usage, "total_tokens", 0) or 0),
    }
