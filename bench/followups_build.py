"""Build a follow-up test set from a multi-hop QA set: pairs whose second turn needs the first.

Two sets are supported, HotpotQA-100 (``--set hotpotqa``, the default) and MuSiQue-100
(``--set musique``); each is read by a small adapter (``followups_sets.py``) into the same shape
(questions with their gold paragraphs, and the corpus), and one procedure makes the conversations.

Every conversation has two turns; the second turn's written-out form is an original question Q
of the set (so its gold paragraphs are the set's: HotpotQA's gold titles, MuSiQue's supporting
paragraphs), and the first turn is made from Q so that the second can leave words out. The
procedure, deterministic and applied to every question in file order:

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

HotpotQA questions are split by their id: dev when the first hex digit of sha1(id) is even, else
test; settings are chosen on dev and figures reported on test. MuSiQue is all test: nothing was
developed or tuned on it. The set and the corpus are written under ~/.cache/ragkit/followups/
(HotpotQA) or ~/.cache/ragkit/followups-musique/ (or --out), never into the repository.

Run with:  .venv/bin/python bench/followups_build.py [--set hotpotqa|musique] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

from followups_sets import HOTPOTQA, SETS, Paragraph, Question, load_set  # noqa: F401 - HOTPOTQA is public

OUT = SETS["hotpotqa"].out
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


def partner(paragraph: Paragraph, gold: list[str], question: str, corpus: list[Paragraph]) -> Paragraph:
    """The non-gold paragraph nearest to ``paragraph`` (ties: first in the corpus)."""
    own = words_of(paragraph.text)
    name_words = words_of(bare_title(paragraph.title))
    best, best_score = corpus[0], -1.0
    for other in corpus:
        bare = bare_title(other.title)
        if other.title in gold or words_of(bare) & name_words or bare in question or len(bare) < 3:
            continue
        theirs = words_of(other.text)
        score = len(own & theirs) / (len(own | theirs) or 1)
        if score > best_score:
            best, best_score = other, score
    return best


def replace_once(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", lambda _: new, text, count=1)


def turn(question: str, standalone: str, files: list[str], answers: list[str] | None = None) -> dict:
    return {"question": question, "standalone": standalone, "answers": answers or [],
            "sources": [{"file": f} for f in files]}


def conversations(rows: list[Question], corpus: list[Paragraph]) -> list[dict]:
    """Every conversation of the set, each tagged with its kind and split."""
    made: list[dict] = []
    counters: Counter[str] = Counter()
    previous_row: Question | None = None
    for row in rows:
        q, gold = " ".join(row.question.split()), row.gold_titles
        files = [p.file for p in row.gold]

        def add(kind: str, first: str, first_files: list[str], second: str) -> None:
            made.append({"id": f"{kind}-{row.id}", "kind": kind, "split": row.split, "turns": [
                turn(first, first, first_files), turn(second, q, files, list(row.answers))]})

        entity = mention(q, gold)
        if entity is not None:
            own = next(p for p in row.gold if p.title == entity)
            other = partner(own, gold, q, corpus)
            e, e2 = bare_title(entity), bare_title(other.title)
            swapped = replace_once(q, e, e2)
            swapped_files = [other.file] + [p.file for p in row.gold if p.title != entity]
            add("entity-fragment", swapped, swapped_files, FRAGMENTS[counters["fragment"] % 3].format(e=e))
            add("verb-ellipsis", swapped, swapped_files, ELLIPSES[counters["fragment"] % 3].format(e=e))
            entity_files = [p.file for p in row.gold if p.title == entity]
            add("other-one", f"Between {e2} and {e}: {swapped}", swapped_files + entity_files, "And the other one?")
            counters["fragment"] += 1
        year = YEAR.search(q)
        if year is not None:
            y = int(year.group(1))
            shifted = y - 1 if str(y - 1) not in q else y + 1
            first = q[:year.start()] + str(shifted) + q[year.end():]
            add("time-shift", first, files, SHIFTS[counters["shift"] % 2].format(y=y))
            counters["shift"] += 1
        if previous_row is not None:
            add("standalone", " ".join(previous_row.question.split()), [p.file for p in previous_row.gold], q)
        previous_row = row
    return made


def build(out: Path | None = None, name: str = "hotpotqa") -> dict[str, Path]:
    """Write out/docs (one file per paragraph, as ragkit.eval.datasets does) and out/{dev,test}.jsonl
    (test.jsonl only for a set that has no dev half)."""
    loaded = load_set(name, out)
    paths = {"docs": loaded.docs}
    made = conversations(loaded.questions, loaded.corpus)
    for split in ("dev", "test"):
        if split == "dev" and not any(c["split"] == split for c in made):
            continue  # MuSiQue has no dev half
        path = loaded.out / f"{split}.jsonl"
        path.write_text("".join(json.dumps(c) + "\n" for c in made if c["split"] == split), encoding="utf-8")
        paths[split] = path
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(SETS), default="hotpotqa")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    paths = build(args.out, args.set)
    for split in [s for s in ("dev", "test") if s in paths]:
        kinds = Counter(json.loads(line)["kind"] for line in paths[split].read_text().splitlines())
        print(split, paths[split], dict(sorted(kinds.items())))


if __name__ == "__main__":
    main()
