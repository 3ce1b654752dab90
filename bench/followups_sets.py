"""The QA sets follow-ups are built from, each read into one shape (bench/followups_build.py).

An adapter turns a set into its corpus (one :class:`Paragraph` per document file, in the order of
the set's corpus.json, which is the order partners are looked for in) and its questions (with
their gold paragraphs, answers and split), and writes the documents with
``ragkit.eval.datasets.write_corpus`` so the file names are the ones ``ragkit eval`` uses.

* HotpotQA-100: gold = ``gold_titles``; split by sha1 of the id (dev when the first hex digit is
  even, else test).
* MuSiQue-100: gold = the supporting paragraphs (their titles, and the corpus file holding the
  same title and text); answers = the answer and its aliases; every question is test, since no
  rule was developed on MuSiQue.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets" / "qa"
HOTPOTQA = SHARED / "hotpotqa-100"
MUSIQUE = SHARED / "musique-100"
CACHE = Path.home() / ".cache" / "ragkit"


@dataclass(frozen=True)
class Paragraph:
    title: str
    text: str
    file: str


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]
    gold: tuple[Paragraph, ...]
    split: str

    @property
    def gold_titles(self) -> list[str]:
        return list(dict.fromkeys(p.title for p in self.gold))


@dataclass(frozen=True)
class Loaded:
    out: Path
    docs: Path
    corpus: list[Paragraph]
    questions: list[Question]


@dataclass(frozen=True)
class QASet:
    source: Path
    out: Path
    read: Callable[[Path, Path], Loaded]


def split_of(question_id: str) -> str:
    return "dev" if int(hashlib.sha1(question_id.encode()).hexdigest()[0], 16) % 2 == 0 else "test"


def _datasets():
    sys.path.insert(0, str(ROOT))
    from ragkit.eval import datasets

    return datasets


def read_hotpotqa(source: Path, out: Path) -> Loaded:
    datasets = _datasets()
    documents, _ = datasets.hotpotqa(source)
    raw = json.loads((source / "corpus.json").read_text(encoding="utf-8"))
    corpus = [Paragraph(title, "".join(sentences), name)
              for (title, sentences), (name, _) in zip(raw.items(), documents)]
    by_title = {p.title: p for p in corpus}
    questions = []
    for line in (source / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        gold = tuple(by_title[t] for t in row["gold_titles"] if t in by_title)
        questions.append(Question(row["id"], row["question"], (row["answer"],), gold, split_of(row["id"])))
    docs, _ = datasets.write_corpus(documents, [], out)
    return Loaded(out, docs, corpus, questions)


def read_musique(source: Path, out: Path) -> Loaded:
    datasets = _datasets()
    documents, _ = datasets.musique(source)
    raw = json.loads((source / "corpus.json").read_text(encoding="utf-8"))
    corpus = [Paragraph(entry["title"], entry["text"], name) for entry, (name, _) in zip(raw, documents)]
    by_text = {(p.title, p.text): p for p in corpus}
    by_title: dict[str, Paragraph] = {}
    for p in corpus:
        by_title.setdefault(p.title, p)
    questions = []
    for row in json.loads((source / "questions.json").read_text(encoding="utf-8")):
        gold = []
        for paragraph in row["paragraphs"]:
            if paragraph.get("is_supporting"):
                key = (paragraph["title"], paragraph["paragraph_text"])
                found = by_text.get(key) or by_title.get(paragraph["title"])
                if found is not None:
                    gold.append(Paragraph(paragraph["title"], paragraph["paragraph_text"], found.file))
        answers = tuple(dict.fromkeys([row["answer"], *row.get("answer_aliases", [])]))
        questions.append(Question(row["id"], row["question"], answers, tuple(gold), "test"))
    docs, _ = datasets.write_corpus(documents, [], out)
    return Loaded(out, docs, corpus, questions)


SETS = {"hotpotqa": QASet(HOTPOTQA, CACHE / "followups", read_hotpotqa),
        "musique": QASet(MUSIQUE, CACHE / "followups-musique", read_musique)}


def load_set(name: str, out: Path | None = None) -> Loaded:
    qa_set = SETS[name]
    return qa_set.read(qa_set.source, out or qa_set.out)
