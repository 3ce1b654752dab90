"""Build a follow-up test set from HotpotQA-100: pairs whose second question only makes sense after the first.

Every conversation has two turns; the second turn's written-out form is an original HotpotQA
question Q (so its gold paragraphs are HotpotQA's), and the first turn is made from Q so that the
second can leave words out. The procedure, deterministic and applied to every question in file order:

* the *entity* E of Q is the first gold title (without its "(disambiguation)") written verbatim in Q;
  its *partner* E' is the corpus title whose paragraph shares the most words (Jaccard of lowercased
  word sets) with E's paragraph, among titles that are not gold for Q and share no word with E
  (HotpotQA's distractors are chosen the same way, so E' is a plausible alternative);
* ``entity-fragment`` (subject ellipsis): turn 1 is Q with E replaced by E'; turn 2 is
  "And E?" / "What about E?" / "How about E?" (in rotation);
* ``verb-ellipsis``: the same turn 1; turn 2 is "Does E do that too?" / "Is that also true for E?" /
  "Does the same go for E?" (in rotation);
* ``other-one`` (comparison): turn 1 names both, "Between E' and E: <Q with E replaced by E'>";
  turn 2 is "And the other one?";
* ``time-shift``: for Q with a year Y (the first four-digit 1000-2099 number), turn 1 is Q with Y
  replaced by Y-1 (Y+1 when Y-1 is already in Q); turn 2 is "What about Y?" / "And Y?" (in rotation);
* ``standalone``: turn 1 is the previous question in the file, turn 2 is Q as written: a follow-up
  that must be left alone.

Questions are split by their id: dev when the first hex digit of sha1(id) is even, else test.
Settings are chosen on dev and figures reported on test. The set and the corpus are written
under ~/.cache/ragkit/followups/ (or --out), never into the repository.

Run with:  .venv/bin/python bench/followups_build.py [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOTPOTQA = ROOT.parent / "shared" / "datasets" / "qa" / "hotpotqa-100"
OUT = Path.home() / ".cache" / "ragkit" / "followups"
YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})\b")
FRAGMENTS = ["And {e}?", "What about {e}?", "How about {e}?"]
ELLIPSES = ["Does {e} do that too?", "Is that also true for {e}?", "Does the same go for {e}?"]
SHIFTS = ["What about {y}?", "And {y}?"]


def bare_title(title: str) -> str:
    """ "Mark King (musician)" -> "Mark King"."""
    return re.sub(r"\s*\([^)]*\)$", "", title).strip()


def words_of(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def mention(question: str, titles: list[str]) -> str | None:
    """The gold title written verbatim in the question that comes first, or None."""
    found = []
    for title in titles:
        name = bare_title(title)
        match = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", question)
        if match and len(name) > 2:
            found.append((match.start(), title))
    return min(found)[1] if found else None


def partner(title: str, gold: list[str], question: str, corpus: dict[str, str]) -> str:
    """The non-gold title whose paragraph is nearest to ``title``'s (ties: first in the corpus)."""
    own = words_of(corpus[title])
    name_words = words_of(bare_title(title))
    best, best_score = "", -1.0
    for other, text in corpus.items():
        bare = bare_title(other)
        if other in gold or words_of(bare) & name_words or bare in question or len(bare) < 3:
            continue
        theirs = words_of(text)
        score = len(own & theirs) / (len(own | theirs) or 1)
        if score > best_score:
            best, best_score = other, score
    return best


def split_of(question_id: str) -> str:
    return "dev" if int(hashlib.sha1(question_id.encode()).hexdigest()[0], 16) % 2 == 0 else "test"


def replace_once(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", lambda _: new, text, count=1)


def turn(question: str, standalone: str, files: list[str], answers: list[str] | None = None) -> dict:
    return {"question": question, "standalone": standalone, "answers": answers or [],
            "sources": [{"file": f} for f in files]}


def conversations(rows: list[dict], corpus: dict[str, str], names: dict[str, str]) -> list[dict]:
    """Every conversation of the set, each tagged with its kind and split."""
    made: list[dict] = []
    counters: Counter[str] = Counter()
    previous_row: dict | None = None
    for row in rows:
        q, gold = " ".join(row["question"].split()), row["gold_titles"]
        files = [names[t] for t in gold if t in names]
        split = split_of(row["id"])

        def add(kind: str, first: str, first_files: list[str], second: str) -> None:
            made.append({"id": f"{kind}-{row['id']}", "kind": kind, "split": split, "turns": [
                turn(first, first, first_files), turn(second, q, files, [row["answer"]])]})

        entity = mention(q, gold)
        if entity is not None:
            other = partner(entity, gold, q, corpus)
            e, e2 = bare_title(entity), bare_title(other)
            swapped = replace_once(q, e, e2)
            swapped_files = [names[other]] + [names[t] for t in gold if t != entity and t in names]
            add("entity-fragment", swapped, swapped_files, FRAGMENTS[counters["fragment"] % 3].format(e=e))
            add("verb-ellipsis", swapped, swapped_files, ELLIPSES[counters["fragment"] % 3].format(e=e))
            add("other-one", f"Between {e2} and {e}: {swapped}", swapped_files + [names[entity]], "And the other one?")
            counters["fragment"] += 1
        year = YEAR.search(q)
        if year is not None:
            y = int(year.group(1))
            shifted = y - 1 if str(y - 1) not in q else y + 1
            first = q[:year.start()] + str(shifted) + q[year.end():]
            add("time-shift", first, files, SHIFTS[counters["shift"] % 2].format(y=y))
            counters["shift"] += 1
        if previous_row is not None:
            prior = previous_row["gold_titles"]
            add("standalone", " ".join(previous_row["question"].split()), [names[t] for t in prior if t in names], q)
        previous_row = row
    return made


def build(out: Path = OUT) -> dict[str, Path]:
    """Write out/docs (one file per paragraph, as ragkit.eval.datasets does) and out/{dev,test}.jsonl."""
    import sys

    sys.path.insert(0, str(ROOT))
    from ragkit.eval.datasets import hotpotqa, write_corpus

    documents, _ = hotpotqa(HOTPOTQA)
    raw = json.loads((HOTPOTQA / "corpus.json").read_text(encoding="utf-8"))
    corpus = {title: "".join(sentences) for title, sentences in raw.items()}
    names = {title: name for title, (name, _) in zip(raw, documents)}
    rows = [json.loads(line) for line in (HOTPOTQA / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    docs, _ = write_corpus(documents, [], out)
    paths = {"docs": docs}
    made = conversations(rows, corpus, names)
    for split in ("dev", "test"):
        path = out / f"{split}.jsonl"
        path.write_text("".join(json.dumps(c) + "\n" for c in made if c["split"] == split), encoding="utf-8")
        paths[split] = path
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    paths = build(parser.parse_args().out)
    for split in ("dev", "test"):
        kinds = Counter(json.loads(line)["kind"] for line in paths[split].read_text().splitlines())
        print(split, paths[split], dict(sorted(kinds.items())))


if __name__ == "__main__":
    main()
