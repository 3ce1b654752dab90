"""Turn public QA sets into a folder of documents plus a gold JSONL, so they run like any corpus.

Supported: HotpotQA (``questions.jsonl`` + ``corpus.json`` {title: [sentences]}), MuSiQue
(``questions.json`` + ``corpus.json`` [{title, text}]) and SQuAD-format JSON (SQuAD v1.1, XQuAD).
Each paragraph becomes one ``.txt`` file (title on the first line). Optionally, questions from a
*different* set are added as unanswerable: their answers are very unlikely to be in this corpus,
which gives the refusal metrics something to measure on sets that have no unanswerable questions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ragkit.errors import GoldSetError
from ragkit.eval.gold import GoldItem, GoldSource, write_jsonl

Document = tuple[str, str]  # (file name, text)


def _file_name(title: str, taken: set[str]) -> str:
    stem = re.sub(r"[^\w\-. ()]+", "_", title, flags=re.UNICODE).strip(" ._")[:120] or "untitled"
    name, n = f"{stem}.txt", 2
    while name.lower() in taken:
        name, n = f"{stem} ({n}).txt", n + 1
    taken.add(name.lower())
    return name


def _read_json(path: Path):
    if not path.exists():
        raise GoldSetError(f"dataset file not found: {path}")
    return json.loads(path.read_text(encoding="utf-8"))


def hotpotqa(folder: Path) -> tuple[list[Document], list[GoldItem]]:
    corpus = _read_json(folder / "corpus.json")
    taken: set[str] = set()
    names = {title: _file_name(title, taken) for title in corpus}
    documents = [(names[t], f"{t}\n\n" + "".join(sentences).strip()) for t, sentences in corpus.items()]
    items = []
    for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        items.append(GoldItem(id=f"hotpotqa-{row['id']}", question=row["question"], answers=[row["answer"]],
                              sources=[GoldSource(file=names[t]) for t in row["gold_titles"] if t in names]))
    return documents, items


def musique(folder: Path) -> tuple[list[Document], list[GoldItem]]:
    corpus = _read_json(folder / "corpus.json")
    taken: set[str] = set()
    documents, by_text, by_title = [], {}, {}
    for entry in corpus:
        name = _file_name(entry["title"], taken)
        documents.append((name, f"{entry['title']}\n\n{entry['text']}"))
        by_text[(entry["title"], entry["text"])] = name
        by_title.setdefault(entry["title"], name)
    items = []
    for row in _read_json(folder / "questions.json"):
        sources = []
        for paragraph in row["paragraphs"]:
            if paragraph.get("is_supporting"):
                name = by_text.get((paragraph["title"], paragraph["paragraph_text"])) or by_title.get(paragraph["title"])
                if name:
                    sources.append(GoldSource(file=name))
        items.append(GoldItem(id=f"musique-{row['id']}", question=row["question"],
                              answers=[row["answer"], *row.get("answer_aliases", [])],
                              sources=sources, answerable=bool(row.get("answerable", True))))
    return documents, items


def squad(path: Path, prefix: str = "squad") -> tuple[list[Document], list[GoldItem]]:
    """SQuAD-format JSON (``data[].paragraphs[].qas[]``): one file per paragraph."""
    data = _read_json(path).get("data")
    if not isinstance(data, list):
        raise GoldSetError(f"{path} is not SQuAD-format JSON (no 'data' list)")
    taken: set[str] = set()
    documents, items = [], []
    for article in data:
        title = article.get("title", "untitled").replace("_", " ")
        for index, paragraph in enumerate(article.get("paragraphs", [])):
            name = _file_name(f"{title} {index + 1}", taken)
            documents.append((name, f"{title}\n\n{paragraph['context']}"))
            for qa in paragraph.get("qas", []):
                answers = list(dict.fromkeys(a["text"] for a in qa.get("answers", [])))
                impossible = bool(qa.get("is_impossible"))
                items.append(GoldItem(id=f"{prefix}-{qa['id']}", question=qa["question"], answers=answers,
                                      sources=[GoldSource(file=name)], answerable=not impossible))
    return documents, items


def write_corpus(documents: list[Document], items: list[GoldItem], out: Path) -> tuple[Path, Path]:
    """Write ``out/docs/*.txt`` and ``out/gold.jsonl``; returns both paths."""
    docs = out / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in documents:
        target = docs / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")  # unchanged files keep their mtime
    gold = out / "gold.jsonl"
    write_jsonl(items, gold)
    return docs, gold


def with_unanswerable(items: list[GoldItem], others: list[GoldItem], n: int) -> list[GoldItem]:
    """Append ``n`` questions from another set, marked unanswerable (spread evenly through it)."""
    if n <= 0 or not others:
        return items
    step = max(1, len(others) // n)
    extra = [GoldItem(id=f"unanswerable-{o.id}", question=o.question, answerable=False) for o in others[::step][:n]]
    return items + extra


LOADERS = {"hotpotqa": hotpotqa, "musique": musique}


def load_dataset(kind: str, source: Path) -> tuple[list[Document], list[GoldItem]]:
    if kind in LOADERS:
        return LOADERS[kind](source)
    if kind in ("squad", "xquad"):
        path = source / "xquad.en.json" if source.is_dir() else source
        return squad(path, prefix=kind)
    raise GoldSetError(f"unknown dataset kind {kind!r} (use hotpotqa, musique, squad or xquad)")
