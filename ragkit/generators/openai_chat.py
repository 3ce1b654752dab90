"""Chat completions through the official ``openai`` SDK: OpenAI, or any compatible server via ``base_url``.

The client and its retry policy come from :mod:`ragkit.llm`. When retries are exhausted the
caller falls back to the extractive answer with a visible warning
(:class:`~ragkit.errors.TransientModelError`). A bad key, an unknown model or a rejected request
cannot be fixed by retrying and becomes one clear :class:`~ragkit.errors.GeneratorError`.

Structured output (:meth:`OpenAIChatGenerator.formatted`): the request's ``response_format`` goes
to the model with the same grounded prompt, plus the versioned note on JSON replies
(:func:`ragkit.prompts.format_prompt`); the reply is the model's JSON, or a refusal (the
``refusal`` field OpenAI's structured outputs use, or a reply that is not JSON and says the
documents do not hold the answer).
"""

from __future__ import annotations

import copy
import json
import logging
from typing import TYPE_CHECKING, Any, Sequence

from ragkit.errors import RagkitError
from ragkit.generators.base import TokenCallback
from ragkit.llm import make_client, translate_api_error
from ragkit.models import Generation, SearchHit
from ragkit.prompts import PROMPT_VERSION, format_prompt, system_prompt, user_prompt

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.config import Settings

log = logging.getLogger("ragkit.openai")
#: the fixed words of the refusal the system prompt asks for
REFUSAL_MARK = "could not find the answer in the documents"


class OpenAIChatGenerator:
    name = "openai"

    def __init__(self, client, *, model: str, temperature: float = 0.0, max_tokens: int = 512) -> None:
        self.client = client
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.prompt_version = PROMPT_VERSION
        #: chat completions' ``response_format`` for structured output (None: a text answer)
        self.response_format: dict[str, Any] | None = None

    def limited(self, max_tokens: int) -> "OpenAIChatGenerator":
        """The same generator with a request's own cap on the answer's tokens (``max_output_tokens``,
        ``max_completion_tokens``), sharing the client."""
        other = copy.copy(self)
        other.max_tokens = max_tokens
        return other

    def formatted(self, response_format: dict[str, Any]) -> "OpenAIChatGenerator":
        """The same generator answering in a request's structured output format (chat
        completions' ``response_format``: ``json_schema`` or ``json_object``), sharing the client."""
        other = copy.copy(self)
        other.response_format = response_format
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
        if self.response_format is not None:
            system += "\n\n" + format_prompt(self.prompt_version)
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
        request: dict[str, Any] = dict(model=self.model, messages=self.messages(question, sources, instructions),
                                       temperature=self.temperature, max_tokens=self.max_tokens)
        if self.response_format is not None:
            request["response_format"] = self.response_format
        sent = on_token is None
        try:
            if on_token is None:
                response = self.client.chat.completions.create(**request)
                message = response.choices[0].message
                text, refusal = message.content or "", getattr(message, "refusal", None) or ""
                usage = _usage(response.usage)
            else:
                text, refusal, usage, sent = self._stream(request, on_token)
        except RagkitError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated below, unknown ones re-raised
            translated = translate_api_error(exc, what=f"model {self.model!r}")
            if translated is exc:
                raise
            raise translated from None
        if self.response_format is None:
            return Generation(text=text, generator=self.name, model=self.model, usage=usage,
                              refused=REFUSAL_MARK in text.lower())
        generation = _structured(text, refusal, self.name, self.model, usage)
        if on_token is not None and not sent and not generation.refused and text:
            on_token(text)  # held back as words that were not a refusal after all: sent whole
        return generation

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

    def _stream(self, request: dict, on_token: TokenCallback) -> tuple[str, str, dict[str, int], bool]:
        """(text, refusal, usage, whether the text was sent) of a streamed reply, its text sent to
        ``on_token`` as it comes.
        A structured reply's text is held back until it starts like JSON, so a reply that turns
        out to be a refusal in words is never streamed as the caller's JSON."""
        stream = self.client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
        parts: list[str] = []
        refusal: list[str] = []
        usage: dict[str, int] = {}
        # structured: None until the reply shows whether it is JSON (sent) or words (held back)
        sending: bool | None = None if self.response_format is not None else True
        for event in stream:
            if event.usage is not None:
                usage = _usage(event.usage)
            for choice in event.choices or []:
                if choice.delta is None:
                    continue
                refusal.append(getattr(choice.delta, "refusal", None) or "")
                delta = choice.delta.content
                if not delta:
                    continue
                parts.append(delta)
                if sending:
                    on_token(delta)
                elif sending is None and (start := "".join(parts).lstrip()):
                    sending = start.startswith(("{", "["))
                    if sending:
                        on_token("".join(parts))
        return "".join(parts), "".join(refusal), usage, bool(sending)


def _usage(usage) -> dict[str, int]:
    if usage is None:
        return {}
    return {
        "prompt_tokens": int(getattr(usage, "prompt_tokens", 0) or 0),
        "completion_tokens": int(getattr(usage, "completion_tokens", 0) or 0),
        "total_tokens": int(getattr(usage, "total_tokens", 0) or 0),
    }


def read_structured(text: str, refusal: str | None) -> tuple[str, bool, list[str]]:
    """A reply in a structured output format as (text, refused, warnings): the model's JSON,
    unchecked for ``[n]`` (they are not citations in JSON), or its refusal -- the ``refusal``
    field, or words that say the documents do not hold the answer instead of JSON (a model in
    ``json_object`` mode may). The answerer and the tool loop both read replies with it."""
    try:
        json.loads(text)
    except ValueError:
        if refusal or REFUSAL_MARK in text.lower():
            return refusal or text.strip(), True, []
        return text, False, ["the chat model's reply is not valid JSON for the requested response format"]
    return text, False, []


def _structured(text: str, refusal: str, name: str, model: str, usage: dict[str, int]) -> Generation:
    """A structured reply (:func:`read_structured`) as a generation."""
    shown, refused, warnings = read_structured(text, refusal)
    return Generation(text=shown, generator=name, model=model, usage=usage, refused=refused, warnings=warnings)
