"""Settings -> generator: the chat model when one is configured, else the offline extractive answerer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragkit.errors import UsageError
from ragkit.generators.base import Generator

if TYPE_CHECKING:  # pragma: no cover
    from ragkit.config import Settings

NAMES = ("extractive", "openai")


def generator_name(settings: "Settings", requested: str | None = None) -> str:
    """Which generator answers: ``requested`` unless it is None or ``auto``, else the settings'
    choice (``auto``: openai when an API key or base_url is configured, extractive otherwise)."""
    name = requested or settings.generator
    if name == "auto":
        name = "openai" if settings.uses_chat_model else "extractive"
    if name not in NAMES:
        raise UsageError(f"unknown generator {name!r} (use extractive or openai)")
    return name


def make_generator(settings: "Settings", requested: str | None = None) -> Generator:
    name = generator_name(settings, requested)
    if name == "extractive":
        from ragkit.generators.extractive import ExtractiveGenerator

        return ExtractiveGenerator(min_coverage=settings.min_coverage)
    from ragkit.generators.openai_chat import OpenAIChatGenerator

    return OpenAIChatGenerator.from_settings(settings)
