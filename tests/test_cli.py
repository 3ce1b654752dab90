"""The ``ragkit`` command: exit codes, JSON reports, one-line errors, secrets masked."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from factories import make_pdf
from ragkit.cli import app

runner = CliRunner()


def test_ingest_json_report_lists_every_file_and_exit_code(tmp_path, corpus_copy):
    (corpus_copy / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    (corpus_copy / "notes.xyz").write_text("unsupported")
    home = tmp_path / "kb"
    result = runner.invoke(app, ["ingest", str(corpus_copy), "--home", str(home), "--json"])
    assert result.exit_code == 1, result.output  # some files failed, the rest stored
    report = json.loads(result.output)
    statuses = {f["source"]: (f["status"], f["reason"]) for f in report["files"]}
    assert statuses["broken.pdf"][0] == "failed" and statuses["broken.pdf"][1]
    assert statuses["notes.xyz"] == ("skipped", "unsupported file type '.xyz'")
    assert report["summary"]["added"] == 8 and report["summary"]["failed"] == 1
    (corpus_copy / "broken.pdf").unlink()
    again = runner.invoke(app, ["ingest", str(corpus_copy), "--home", str(home), "--json"])
    assert again.exit_code == 0
    assert json.loads(again.output)["summary"]["unchanged"] == 8


def test_ingest_summary_table_and_usage_errors(tmp_path, corpus_copy):
    result = runner.invoke(app, ["ingest", str(corpus_copy / "support-faq.txt"), "--home", str(tmp_path / "kb")])
    assert result.exit_code == 0 and "files added" in result.output and "Ingest summary" in result.output
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--home", str(tmp_path / "kb")])
    assert missing.exit_code == 2 and "path not found" in missing.output and "Traceback" not in missing.output
    bad_option = runner.invoke(app, ["ingest", str(corpus_copy), "--chunk-size", "8", "--home", str(tmp_path / "kb")])
    assert bad_option.exit_code == 2 and "chunk_size" in bad_option.output


def test_status_remove_and_search(tmp_path, corpus_copy):
    home = tmp_path / "kb"
    runner.invoke(app, ["ingest", str(corpus_copy), "--home", str(home)])
    status = json.loads(runner.invoke(app, ["status", "--home", str(home), "--json"]).output)
    assert status["documents"] == 8 and status["chunks"] == status["store_chunks"]
    search = runner.invoke(app, ["search", "MQTT port", "--home", str(home), "--json", "-k", "2"])
    hits = json.loads(search.output)["hits"]
    assert len(hits) == 2 and hits[0]["source"] == "firmware-release-notes.md"
    filtered = json.loads(runner.invoke(app, ["search", "MQTT port", "--home", str(home), "--json",
                                              "--filter", "type=pdf"]).output)["hits"]
    assert all(h["source"].endswith(".pdf") for h in filtered)
    removed = runner.invoke(app, ["remove", str(corpus_copy / "firmware-release-notes.md"), "--home", str(home)])
    assert removed.exit_code == 0 and "removed" in removed.output
    status = json.loads(runner.invoke(app, ["status", "--home", str(home), "--json"]).output)
    assert status["documents"] == 7
    bad_mode = runner.invoke(app, ["search", "x", "--home", str(home), "--mode", "fuzzy"])
    assert bad_mode.exit_code == 2 and "--mode must be" in bad_mode.output


def test_ask_prints_answer_and_sources_offline(tmp_path, corpus_copy):
    home = tmp_path / "kb"
    runner.invoke(app, ["ingest", str(corpus_copy), "--home", str(home)])
    result = runner.invoke(app, ["ask", "How long is the warranty on the WS-200 sensor array?", "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "3 years" in result.output and "Sources" in result.output
    assert "warranty-and-returns.docx" in result.output
    refused = runner.invoke(app, ["ask", "Who won the 2018 FIFA World Cup?", "--home", str(home)])
    assert "Not found in the documents." in refused.output and "Nearest sources" in refused.output
    as_json = json.loads(runner.invoke(app, ["ask", "What does error code E42 mean?", "--home", str(home), "--json"]).output)
    assert as_json["citations"][0]["page"] == 4


def test_ask_streams_from_an_openai_compatible_server(tmp_path, corpus_copy, llm):
    home = tmp_path / "kb"
    runner.invoke(app, ["ingest", str(corpus_copy), "--home", str(home)])
    result = runner.invoke(app, ["ask", "What is the MQTT port?", "--home", str(home), "--base-url", llm.url,
                                 "--model", "local-model", "--stream"])
    assert result.exit_code == 0, result.output
    assert "1883" in result.output and "[1]" in result.output
    body = llm.chat_requests()[-1]["body"]
    assert body["stream"] is True and body["model"] == "local-model"


def test_ask_with_a_rejected_key_is_one_line_exit_1(tmp_path, corpus_copy, llm):
    home = tmp_path / "kb"
    runner.invoke(app, ["ingest", str(corpus_copy), "--home", str(home)])
    llm.state.api_key = "right"
    result = runner.invoke(app, ["ask", "What is the MQTT port?", "--home", str(home), "--base-url", llm.url,
                                 "--no-stream"], env={"RAGKIT_API_KEY": "wrong-key-123"})
    assert result.exit_code == 1
    assert "rejected the key" in result.output and "Traceback" not in result.output
    assert "wrong-key-123" not in result.output


def test_config_shows_effective_settings_with_secrets_masked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ragkit.toml").write_text('top_k = 7\nmodel = "from-toml"\n')
    monkeypatch.setenv("RAGKIT_MODEL", "from-env")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-not-show")
    result = runner.invoke(app, ["config", "--json"])
    shown = json.loads(result.output)
    assert shown["top_k"] == 7 and shown["model"] == "from-env" and shown["api_key"] == "****"
    assert "sk-should-not-show" not in result.output
    (tmp_path / "ragkit.toml").write_text("top_k = 0\n")
    bad = runner.invoke(app, ["config"])
    assert bad.exit_code == 2 and "top_k" in bad.output and "ragkit.toml" in bad.output


def test_console_script_runs_as_a_subprocess(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "moon.pdf", ["The Moon orbits Earth every 27.3 days.", "Tides are caused by the Moon."])
    home = tmp_path / "kb"
    ingest = subprocess.run([sys.executable, "-m", "ragkit.cli", "ingest", str(docs), "--home", str(home)],
                            capture_output=True, text=True, timeout=300)
    assert ingest.returncode == 0, ingest.stderr
    ask = subprocess.run([sys.executable, "-m", "ragkit.cli", "ask", "What causes tides?", "--home", str(home)],
                         capture_output=True, text=True, timeout=300)
    assert ask.returncode == 0, ask.stderr
    assert "moon.pdf, page 2" in ask.stdout
    for module in ("ragkit.cli", "ragkit"):  # python -m ragkit too
        version = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
        assert version.stdout.startswith("ragkit "), (module, version.stderr)
