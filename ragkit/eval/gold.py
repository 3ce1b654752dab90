"""Gold question sets: ragkit's JSONL format, SQuAD JSON, and BEIR folders.

JSONL, one object per line::

    {"id": "q1", "question": "...", "answers": ["3 years"],
     "sources": [{"file": "manual.pdf", "page": 4}, {"file": "faq.txt"}, "notes.md"],
     "answerable": true}

``answers`` may be empty (retrieval-only questions); ``sources`` name gold files (relative path or
file name), optionally with a page and/or a ``grade`` (default 1); ``answerable`` defaults to true.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from ragkit.errors import GoldSetError


class GoldSource(BaseModel):
    file: str
    page: int | None = None
    grade: float = 1.0

    @property
    def unit(self) -> str:
        return f"{self.file}#p{self.page}" if self.page is not None else self.file


class GoldItem(BaseModel):
    id: str
    question: str = Field(min_length=1)
    answers: list[str] = []
    sources: list[GoldSource] = []
    answerable: bool = True

    @field_validator("sources", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"file": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


@dataclass
class GoldSet:
    items: list[GoldItem]
    path: str
    problems: list[str] = field(default_factory=list)


def load_jsonl(path: Path) -> GoldSet:
    """Load a gold file; malformed lines are reported with their line numbers and skipped."""
    if not path.exists():
        raise GoldSetError(f"gold file not found: {path}")
    items: list[GoldItem] = []
    problems: list[str] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = GoldItem.model_validate(json.loads(line))
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{number}: invalid JSON ({exc.msg})")
                continue
            except ValidationError as exc:
                fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())
                problems.append(f"{path}:{number}: {fields}")
                continue
            if item.id in seen:
                problems.append(f"{path}:{number}: duplicate id {item.id!r} skipped")
                continue
            seen.add(item.id)
            items.append(item)
    if not items:
        detail = f" ({len(problems)} malformed line(s): {problems[0]})" if problems else ""
        raise GoldSetError(f"gold set {path} has no usable questions{detail}")
    return GoldSet(items, str(path), problems)


def write_jsonl(items: list[GoldItem], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item.model_dump(exclude_defaults=False), ensure_ascii=False) + "\n")


# -- BEIR --------------------------------------------------------------------------------------
@dataclass
class BeirSet:
    corpus: list[tuple[str, str, str]]  # (doc id, title, text)
    gold: GoldSet


def load_beir(directory: Path, split: str = "test") -> BeirSet:
    """A BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (query-id, corpus-id, score)."""
    corpus_path, queries_path, qrels_path = directory / "corpus.jsonl", directory / "queries.jsonl", directory / "qrels" / f"{split}.tsv"
    for required in (corpus_path, queries_path, qrels_path):
        if not required.exists():
            raise GoldSetError(f"not a BEIR folder: {required} is missing")
    corpus = []
    for number, line in enumerate(corpus_path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
                corpus.append((str(row["_id"]), row.get("title") or "", row.get("text") or ""))
            except (json.JSONDecodeError, KeyError) as exc:
                raise GoldSetError(f"{corpus_path}:{number}: malformed corpus line ({exc})") from None
    queries = {}
    for number, line in enumerate(queries_path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
                queries[str(row["_id"])] = row["text"]
            except (json.JSONDecodeError, KeyError) as exc:
                raise GoldSetError(f"{queries_path}:{number}: malformed query line ({exc})") from None
    qrels: dict[str, dict[str, float]] = {}
    with open(qrels_path, encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(reader, start=1):
            if not row or (number == 1 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # header
            try:
                qid, doc_id, score = row[0], row[1], float(row[2])
            except (IndexError, ValueError):
                raise GoldSetError(f"{qrels_path}:{number}: expected query-id, corpus-id, score") from None
            qrels.setdefault(qid, {})[doc_id] = score
    items = [
        GoldItem(id=qid, question=queries[qid],
                 sources=[GoldSource(file=doc, grade=grade) for doc, grade in judged.items() if grade > 0])
        for qid, judged in qrels.items() if qid in queries and any(g > 0 for g in judged.values())
    ]
    if not items:
        raise GoldSetError(f"BEIR folder {directory} has no judged queries for split {split!r}")
    return BeirSet(corpus, GoldSet(items, str(directory)))
