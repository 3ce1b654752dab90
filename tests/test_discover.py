"""Finding files: what cannot be ingested is named in the report, never passed over in silence or
allowed to stop the run (broken links, link loops, unreadable folders, file names that are not UTF-8)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from ingest.discover import discover


def test_broken_links_and_link_loops_are_reported_as_skipped(tmp_path):
    docs = tmp_path / "docs"
    (docs / "loop").mkdir(parents=True)
    (docs / "notes.txt").write_text("Readable notes.")
    os.symlink("notes.txt", docs / "alias.txt")
    os.symlink("missing.txt", docs / "dangling.txt")
    os.symlink("b.md", docs / "a.md")
    os.symlink("a.md", docs / "b.md")
    os.symlink("missing.png", docs / "picture.png")  # an unsupported type stays "unsupported"
    os.symlink(".", docs / "loop" / "self")  # a folder link is not followed, so no endless walk
    found, skipped = discover([docs])
    assert [item.path for item in found] == [(docs / "notes.txt").resolve()]  # alias.txt is the same file
    reasons = {result.source: result for result in skipped}
    assert set(reasons) == {"dangling.txt", "a.md", "b.md", "picture.png"}
    for name in ("dangling.txt", "a.md", "b.md"):
        assert reasons[name].status == "skipped" and "broken symbolic link" in reasons[name].reason
    assert "'missing.txt'" in reasons["dangling.txt"].reason
    assert "unsupported" in reasons["picture.png"].reason
    # A link the globs leave out is not reported either.
    assert {r.source for r in discover([docs], exclude=["*.md"])[1]} == {"dangling.txt", "picture.png"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a file system that stores any bytes")
def test_a_file_name_that_is_not_utf8_fails_alone_instead_of_stopping_the_run(kb_factory, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("Tidal forces stretch moons.")
    with open(os.fsencode(docs) + b"/caf\xe9-menu.txt", "wb") as handle:  # Latin-1 bytes in the name
        handle.write(b"Soup of the day.")
    kb = kb_factory()
    report = kb.ingest([docs])
    by_source = {f.source: f for f in report.files}
    assert by_source["good.txt"].status == "added"
    bad = by_source["caf\\xe9-menu.txt"]
    assert bad.status == "failed" and "not valid UTF-8" in bad.reason and "rename" in bad.reason
    assert not report.ok
    json.dumps(report.to_dict(), ensure_ascii=False).encode("utf-8")  # no lone surrogates left to print
    assert kb.search("tidal forces", k=1).hits[0].source == "good.txt"


def _unprivileged(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run Python code where ``chmod 000`` is enforced: as is for a normal user; for root, in a
    user namespace without an id mapping (``unshare -U``), where root cannot override permissions."""
    command = [sys.executable, "-c", code, *args]
    if os.geteuid() == 0:
        if not shutil.which("unshare") or subprocess.run(["unshare", "-U", "true"]).returncode != 0:
            pytest.skip("running as root without user namespaces: file permissions are not enforced")
        command = ["unshare", "-U", *command]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


_INGEST = """
import json, sys
from ragkit import KnowledgeBase
with KnowledgeBase(sys.argv[1]) as kb:
    report = kb.ingest([sys.argv[2]], prune=True)
    print(json.dumps({"files": {f.source: [f.status, f.reason] for f in report.files},
                      "chunks": kb.manifest.count_chunks(), "removed": report.chunks_removed}))
"""


def test_an_unreadable_folder_is_reported_and_prune_keeps_what_it_stored(kb_factory, tmp_path):
    docs = tmp_path / "docs"
    (docs / "closed").mkdir(parents=True)
    (docs / "top.txt").write_text("The lighthouse keeper logs every ship.")
    (docs / "closed" / "inner.txt").write_text("The vault opens at dawn.")
    (docs / "closed" / "locked.txt").write_text("Nobody may read this.")
    kb = kb_factory()
    assert kb.ingest([docs]).count("added") == 3
    chunks = kb.manifest.count_chunks()
    kb.close()
    os.chmod(docs / "closed" / "locked.txt", 0)
    os.chmod(docs / "closed", 0)
    try:
        run = _unprivileged(_INGEST, str(tmp_path / "kb"), str(docs))
    finally:
        os.chmod(docs / "closed", 0o755)
        os.chmod(docs / "closed" / "locked.txt", 0o644)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    result = json.loads(run.stdout)
    status, reason = result["files"]["closed/"]
    assert status == "failed" and "cannot read folder" in reason and "permissions" in reason
    assert result["files"]["top.txt"][0] == "unchanged"
    # The folder's files still exist: --prune must not forget them.
    assert result["removed"] == 0 and result["chunks"] == chunks
