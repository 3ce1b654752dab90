"""Ratings of answers from the web page, and their export as gold questions.

A thumbs up or down is only worth keeping if it can be measured against later: every rating is
stored with the question, the answer, its cited sources and what the reader said was right
(a correction, the right source, or "the documents do not answer this"), and
``ragkit feedback export`` turns the ratings into the JSONL that ``ragkit eval`` reads. The
``feedback`` table lives in the home's state database (:mod:`ragkit.state`, whose migrations
create it); :mod:`ragkit.state.feedback` holds its SQL.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ragkit.citations import MARKER
from ragkit.eval.gold import GoldItem, GoldSource
from ragkit.generators.extractive import PREFIX as EXTRACTIVE_PREFIX
from ragkit.state import open_home
from ragkit.state.feedback import FeedbackTable
from ragkit.state.tables import now

_MARKERS = re.compile(r"\s*(?:" + MARKER.pattern + ")")


class CitedSource(BaseModel):
    model_config = {"strict": True}

    filename: str = Field(min_length=1, max_length=500)
    page: int | None = Field(None, ge=1)


class Rating(BaseModel):
    """What the page sends for one rated answer, checked strictly as the API's bodies are
    (:class:`ragkit.server.params.Body`): ``"refused": "yes"`` is a 400, not read as true."""

    model_config = {"extra": "forbid", "strict": True}

    vector_store_id: str | None = Field(None, max_length=200)
    question: str = Field(min_length=1, max_length=20_000)
    answer: str = Field(max_length=200_000)
    refused: bool = False
    rating: Literal["up", "down"]
    correction: str | None = Field(None, max_length=20_000)
    source_file: str | None = Field(None, max_length=500)
    source_page: int | None = Field(None, ge=1)
    not_answerable: bool = False
    citations: list[CitedSource] = Field(default_factory=list, max_length=100)


class FeedbackStore:
    """The ``feedback`` table of a home's state database.

    ``server_dir`` is the home's server directory (``ServerConfig.server_dir``, ``<home>/server``),
    which is how the page and the CLI name the server's home."""

    def __init__(self, server_dir: Path) -> None:
        self.state = open_home(Path(server_dir).parent)
        self.path = self.state.path
        self.table = FeedbackTable(self.state)

    def add(self, rating: Rating, key_id: str | None, key_name: str | None) -> dict[str, Any]:
        row = {"id": "fb_" + secrets.token_hex(12), "created_at": now(), "key_id": key_id, "key_name": key_name,
               **rating.model_dump(exclude={"citations"}),
               "citations": json.dumps([c.model_dump() for c in rating.citations])}
        row["correction"] = (row["correction"] or "").strip() or None
        row["source_file"] = (row["source_file"] or "").strip() or None
        self.table.insert(row)
        return {"id": row["id"], "object": "feedback", "created_at": row["created_at"], "rating": row["rating"]}

    def rows(self, vector_store_id: str | None = None) -> list[dict[str, Any]]:
        return self.table.rows(vector_store_id)


def plain_answer(text: str) -> str:
    """The answer as a gold answer: without ``[n]`` markers or the extractive answerer's preface."""
    text = text.strip()
    if text.startswith(EXTRACTIVE_PREFIX):
        text = text[len(EXTRACTIVE_PREFIX):]
    return _MARKERS.sub("", text).strip()


def gold_item(row: dict[str, Any]) -> GoldItem | None:
    """One rating as a gold question, or None when it says only that the answer was wrong."""
    base = {"id": row["id"], "question": row["question"]}
    if row["rating"] == "up":
        if row["refused"]:
            return GoldItem(**base, answerable=False)
        cited = [GoldSource(file=c["filename"], page=c.get("page")) for c in json.loads(row["citations"])]
        unique = list({s.unit: s for s in cited}.values())
        return GoldItem(**base, answers=[plain_answer(row["answer"])], sources=unique)
    if row["not_answerable"]:
        return GoldItem(**base, answerable=False)
    answers = [row["correction"]] if row["correction"] else []
    sources = [GoldSource(file=row["source_file"], page=row["source_page"])] if row["source_file"] else []
    if not answers and not sources:
        return None
    return GoldItem(**base, answers=answers, sources=sources)


def export(store: FeedbackStore, vector_store_id: str | None = None) -> tuple[list[GoldItem], int]:
    """Gold items for the rated questions (the latest rating of a question wins) and how many
    ratings said nothing an evaluation could check (a bare thumbs down)."""
    latest: dict[tuple[str | None, str], dict[str, Any]] = {}
    for row in store.rows(vector_store_id):
        latest[(row["vector_store_id"], " ".join(row["question"].split()).casefold())] = row
    items, skipped = [], 0
    for row in latest.values():
        item = gold_item(row)
        if item is None:
            skipped += 1
        else:
            items.append(item)
    return items, skipped
