"""The ``ragkit`` command given wrong or unusual input: one line naming the problem and what to do,
never a traceback or a silent success; notices a user needs (nothing ingested, files gone)."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from ragkit.cli import app

runner = CliRunner()


def _docs(tmp_path, names=("moon.txt", "tides.txt")):
    docs = tmp_path / "docs"
    docs.mkdir()
    texts = {"moon.txt": "The Moon orbits Earth every 27.3 days.", "tides.txt": "Tides are caused by the Moon."}
    for name in names:
        (docs / name).write_text(texts.get(name, f"The note {name} mentions the Moon."))
    return docs


def test_reading_commands_name_a_missing_home_or_collection_and_create_nothing(tmp_path):
    missing = tmp_path / "typo-home"
    for args in (["search", "tides"], ["ask", "What causes tides?"], ["status"]):
        result = runner.invoke(app, [*args, "--home", str(missing)])
        assert result.exit_code == 1, result.output
        assert f"no knowledge base at {missing}" in result.output
    assert not missing.exists()

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tides.txt").write_text("Tides are caused by the gravity of the Moon and the Sun.")
    home = tmp_path / "kb"
    assert runner.invoke(app, ["ingest", str(docs), "--home", str(home)]).exit_code == 0
    for args in (["search", "tides"], ["ask", "What causes tides?"], ["status"]):
        result = runner.invoke(app, [*args, "--home", str(home), "--collection", "typo"])
        assert result.exit_code == 1, result.output
        assert "collection 'typo'" in result.output and "holds no documents" in result.output
        assert "collections here: default" in result.output
    assert "no matching chunks" not in result.output
    assert not (home / "bm25" / "typo").exists()
    import chromadb

    assert [c.name for c in chromadb.PersistentClient(str(home / "chroma")).list_collections()] == ["default"]


def test_k_and_concurrency_out_of_range_are_usage_errors(tmp_path):
    for args in (["search", "tides", "--k", "0"], ["ask", "tides?", "-k", "-3"],
                 ["ask", "--batch", "questions.txt", "--concurrency", "0"]):
        result = runner.invoke(app, [*args, "--home", str(tmp_path / "kb")])
        assert result.exit_code == 2, (args, result.output)
        assert "Invalid value for" in result.output and "Traceback" not in result.output


def test_a_home_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "kb").write_text("oops")
    result = runner.invoke(app, ["status", "--home", str(tmp_path / "kb")])
    assert result.exit_code == 2
    assert "is a file, not a directory" in result.output and "Traceback" not in result.output


def test_a_home_that_cannot_be_created_is_one_line_from_the_console_script(tmp_path):
    (tmp_path / "file").write_text("oops")
    done = subprocess.run([sys.executable, "-m", "ragkit.cli", "ingest", str(_docs(tmp_path)), "--home",
                           str(tmp_path / "file" / "kb")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: Not a directory: {tmp_path / 'file' / 'kb'}"


def test_warnings_are_one_line_and_libraries_deprecations_are_not_shown(tmp_path):
    docs = _docs(tmp_path)
    done = subprocess.run([sys.executable, "-m", "ragkit.cli", "ingest", str(docs), "--home", str(tmp_path / "kb"),
                           "--chunk-size", "300"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "DeprecationWarning" not in done.stderr  # Chroma's, on every open, before
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("warning: chunk_size=300 tokens is about 360 model tokens")
    assert not any(".py:" in line for line in lines)  # no file:line, no source line


def test_an_agent_fallback_warning_is_shown_once(halvard_kb):
    result = runner.invoke(app, ["ask", "What does error code E42 mean?", "--agent", "--home", str(halvard_kb.home)])
    assert result.exit_code == 0, result.output
    assert result.output.count("no chat model for the tools") == 1


def test_ingesting_nothing_warns(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["ingest", str(empty), "--home", str(tmp_path / "kb")])
    assert result.exit_code == 0
    assert f"warning: nothing to ingest: no files in {empty}" in " ".join(result.output.split())


def test_unsupported_files_are_one_line_and_documents_whose_files_are_gone_are_noted(tmp_path):
    docs = _docs(tmp_path)
    for i in range(5):
        (docs / f"photo-{i}.png").write_bytes(b"\x89PNG")
    (docs / "build").write_text("all:")
    home = str(tmp_path / "kb")
    first = runner.invoke(app, ["ingest", str(docs), "--home", home])
    assert first.exit_code == 0, first.output
    flat = " ".join(first.output.split())
    assert "skipped 6 files of unsupported types: .png (5), (none) (1) (--json lists each)" in flat
    assert "photo-0.png" not in first.output and "Files needing attention" not in first.output
    listed = json.loads(runner.invoke(app, ["ingest", str(docs), "--home", home, "--json"]).output)
    assert sum(f["status"] == "skipped" for f in listed["files"]) == 6  # JSON still lists each

    (docs / "tides.txt").unlink()
    again = " ".join(runner.invoke(app, ["ingest", str(docs), "--home", home]).output.split())
    assert "note: 1 document(s) whose files are gone are still in the collection (tides.txt); --prune forgets them" \
        in again
    pruned = runner.invoke(app, ["ingest", str(docs), "--home", home, "--prune"])
    assert "files are gone" not in pruned.output
    status = json.loads(runner.invoke(app, ["status", "--home", home, "--json"]).output)
    assert status["documents"] == 1


def test_eval_ingest_names_the_files_it_could_not_ingest(tmp_path):
    docs = _docs(tmp_path)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "q1", "question": "What causes tides?", "answers": ["the Moon"],
                                "sources": ["tides.txt"]}) + "\n")
    result = runner.invoke(app, ["eval", str(gold), "--ingest", str(docs), "--home", str(tmp_path / "kb")])
    assert result.exit_code == 0, result.output
    assert "warning: not ingested: broken.pdf: " in result.output


def test_a_file_name_with_a_newline_is_one_row_of_the_problems_table(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bad\nname.txt").write_bytes(b"\x00\x01\x02 binary")
    result = runner.invoke(app, ["ingest", str(docs), "--home", str(tmp_path / "kb")])
    assert "bad\\nname.txt" in result.output, result.output
