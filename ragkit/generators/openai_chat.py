"""Chat completions through the official ``openai`` SDK: OpenAI, or any compatible server via ``base_url``.

The client and its retry policy come from :mod:`ragkit.llm`. When retries are exhausted the
caller falls back to the extractive answer with a visible warning
(:class:`~ragkit.errors.TransientModelError`). A bad key, an unknown model or a rejected request
cannot be fixed by retrying and becomes one clear :class:`~ragkit.errors.GeneratorError`.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Sequence

from ragkit.errors import RagkitError
from ragkit.generators.base import TokenCallback
from ragkit.llm import make_client, translate_api_error
from ragkit.models import Generation, SearchHit
from ragkit.prompts import PROMPT_VERSION, system_prompt, user_prompt

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.config import Settings

log = logging.getLogger("ragkit.openai")


class OpenAIChatGenerator:
    name = "openai"

    def __init__(self, client, *, model: str, temperature: float = 0.0, max_tokens: int = 512) -> None:
        self.client = client
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.prompt_version = PROMPT_VERSION

    def limited(self, max_tokens: int) -> "OpenAIChatGenerator":
        """The same generator with a request's own cap on the answer's tokens (``max_output_tokens``,
        ``max_completion_tokens``), sharing the client."""
        other = copy.copy(self)
        other.max_tokens = max_tokens
        return other

    @classmethod
    def from_settings(cls, settings: "Settings") -> "OpenAIChatGenerator":
        return cls(make_client(settings), model=settings.model, temperature=settings.temperature,
                   max_tokens=settings.max_tokens)

    def messages(self, question: str, sources: Sequence[SearchHit],
                 instructions: str | None = None) -> list[dict[str, str]]:
        """The versioned prompt; an operator's ``instructions`` (never a document's) follow the
        system prompt's own rules, which they cannot replace."""
        system = system_prompt(self.prompt_version)
        if instructions and instructions.strip():
            system += "\n\nAdditional instructions from the operator:\n" + instructions.strip()
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": user_prompt(question, sources, self.prompt_version)},
        ]

    def generate(
        self, question: str, sources: Sequence[SearchHit], *, on_token: TokenCallback | None = None,
        instructions: str | None = None,
    ) -> Generation:
        request = dict(model=self.model, messages=self.messages(question, sources, instructions),
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

    def complete(self, prompt: str, *, max_tokens: int = 20) -> str:
        """One plain completion (no sources, no streaming), e.g. for the eval judge."""
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": prompt}], temperature=0, max_tokens=max_tokens)
        except Exception as exc:  # noqa: BLE001 - translated below, unknown ones re-raised
            translated = translate_api_error(exc, what=f"model {self.model!r}")
            if translated is exc:
                raise
            raise translated from None
        return response.choices[0].message.content or ""

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
