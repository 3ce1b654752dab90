"""The one place ragkit talks to an OpenAI-compatible API: client factory and error translation.

Chat generation, embeddings and the eval judge all build their client here, so the retry policy
(the SDK's exponential backoff with jitter over 408/409/429/5xx and connection errors, bounded
by ``max_retries`` and ``timeout``) and the mapping of SDK exceptions onto ragkit's errors are
written once. The API key is never printed or logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragkit.errors import GeneratorError, TransientModelError

if TYPE_CHECKING:  # pragma: no cover
    from openai import OpenAI

    from ragkit.config import Settings


def make_client(settings: "Settings") -> "OpenAI":
    """An ``openai.OpenAI`` client for the configured server (OpenAI, vLLM, Ollama, llama.cpp)."""
    from openai import OpenAI

    key = settings.api_key.get_secret_value() if settings.api_key else None
    if not key:
        if not settings.base_url:
            raise GeneratorError("no API key: set OPENAI_API_KEY (or RAGKIT_API_KEY), or a base_url for a local server")
        key = "not-needed"  # local OpenAI-compatible servers usually ignore the key, the SDK requires one
    return OpenAI(api_key=key, base_url=settings.base_url, timeout=settings.timeout, max_retries=settings.max_retries)


def translate_api_error(exc: Exception, *, what: str) -> Exception:
    """Map SDK exceptions onto ragkit's: permanent -> GeneratorError, transient -> TransientModelError.

    Anything that is not an SDK error is returned unchanged (the caller re-raises it: a bug)."""
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
