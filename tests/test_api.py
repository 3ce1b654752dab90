"""KnowledgeBase (ragkit/api.py) given wrong input: a clear RagkitError, never a silent wrong result
or a wait of minutes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from ragkit import KnowledgeBase
from ragkit.errors import ConfigError, UsageError

QUESTION = "How long is the warranty on the WS-200 sensor array?"


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_k_below_one_or_not_a_whole_number_is_refused(halvard_kb, k):
    # k=0 used to return no hits and k=-3 every chunk but the last three; ask(k=0) meant top_k
    with pytest.raises(UsageError, match="k must be a whole number of at least 1"):
        halvard_kb.search("battery disposal", k=k)
    with pytest.raises(UsageError, match="k must be"):
        halvard_kb.ask(QUESTION, k=k)


def test_k_of_one_or_more_is_honoured(halvard_kb):
    assert len(halvard_kb.search("battery disposal", k=2).hits) == 2
    assert len(halvard_kb.ask(QUESTION, k=3).sources) == 3
    assert len(halvard_kb.search("battery disposal").hits) == halvard_kb.settings.top_k


def test_a_home_that_is_a_file_is_a_config_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a knowledge base")
    with pytest.raises(ConfigError, match="notes.txt is a file, not a directory"):
        KnowledgeBase(tmp_path / "notes.txt")


def test_a_script_without_a_main_guard_ingests_without_waiting_for_its_parser_process(tmp_path):
    """Parser processes import the caller's script again. Without `if __name__ == "__main__":` the
    copy opened the knowledge base and waited for the ingest lock its parent held, until the parent
    gave up on it after 120 s. Now the copy ends at once with a line saying why, and the parent
    parses in its own process."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The Moon orbits Earth every 27.3 days.")
    (docs / "b.txt").write_text("Tides are caused by the Moon.")
    script = tmp_path / "readme_example.py"
    script.write_text(textwrap.dedent("""\
        from ragkit import KnowledgeBase

        with KnowledgeBase("./.ragkit") as kb:
            report = kb.ingest(["docs"])
            print("added", report.summary()["added"])
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=100)  # the old wait alone was 120 s
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "added 2"
    assert 'put the script\'s code under `if __name__ == "__main__":`' in done.stderr
    assert "Traceback" not in done.stderr


def test_dropping_a_collection_leaves_nothing_of_it_in_the_home(tmp_path):
    """Its vectors' files, its BM25 index, its lock files: a deleted vector store gives back its
    disk space, and another collection in the same home is untouched."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("The archive word is quillerstone.\n" * 400)
    home = tmp_path / "home"
    with KnowledgeBase(home, collection="kept") as kept:
        assert kept.ingest([docs]).ok
    listing = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    with KnowledgeBase(home, collection="doomed") as doomed:
        assert doomed.ingest([docs]).ok and doomed.search("quillerstone").hits
        doomed.drop()
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*") if "chroma.sqlite3" not in p.name) == \
        [name for name in listing if "chroma.sqlite3" not in name]
    with KnowledgeBase(home, collection="kept") as kept:
        assert kept.search("quillerstone").hits
