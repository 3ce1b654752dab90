"""``ragkit ask --batch``: many questions at once, answers as JSON lines in input order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ragkit.errors import RagkitError, UsageError


def read_questions(path: Path) -> list[tuple[str, str]]:
    """(id, question) pairs from a JSONL file ({"id", "question"}) or a text file (one per line)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    questions: list[tuple[str, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                row = json.loads(line)
                questions.append((str(row.get("id", number)), str(row["question"])))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UsageError(f"{path}:{number}: expected a JSON object with a \"question\" field") from None
        else:
            questions.append((str(number), line.strip()))
    if not questions:
        raise UsageError(f"{path} holds no questions")
    return questions


def _ask_batch(path: Path, kb, concurrency: int | None, **options: Any) -> None:
    questions = read_questions(path)
    with kb:
        answers = kb.ask_many([q for _, q in questions], concurrency=concurrency, **options)
    for (qid, question), answer in zip(questions, answers):
        if isinstance(answer, RagkitError):
            row = {"id": qid, "question": question, "error": str(answer)}
        else:
            row = {"id": qid, **answer.to_dict()}
        print(json.dumps(row, ensure_ascii=False))
