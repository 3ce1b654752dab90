"""Versioned prompt templates. Changing a prompt means adding a new version, so eval runs stay comparable."""

from __future__ import annotations

from html import escape
from importlib import resources
from typing import Sequence

from ragkit.models import SearchHit

PROMPT_VERSION = "answer_v1"


def _read(name: str) -> str:
    return (resources.files("ragkit.prompts") / name).read_text(encoding="utf-8")


def system_prompt(version: str = PROMPT_VERSION) -> str:
    return _read(f"{version}.system.txt").strip()


def format_prompt(version: str = PROMPT_VERSION) -> str:
    """What the system prompt adds when the request asks for structured output (a JSON reply in
    its ``response_format``): the rules that cannot hold for JSON (cite as ``[n]``, the refusal
    sentence, a few sentences) give way, the rule of the sources does not. It also says "JSON",
    which OpenAI's ``json_object`` mode requires of the messages."""
    return _read(f"{version}.format.txt").strip()


def format_sources(sources: Sequence[SearchHit]) -> str:
    """Numbered sources; text is escaped so a document cannot close the delimiter early."""
    blocks = []
    for n, hit in enumerate(sources, start=1):
        page = f' page="{hit.page}"' if hit.page is not None else ""
        blocks.append(f'<source id="{n}" file="{escape(hit.source)}"{page}>\n{escape(hit.text, quote=False)}\n</source>')
    return "\n".join(blocks)


def user_prompt(question: str, sources: Sequence[SearchHit], version: str = PROMPT_VERSION) -> str:
    return _read(f"{version}.user.txt").format(sources=format_sources(sources), question=question.strip())
