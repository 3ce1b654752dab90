"""The state database on a real PostgreSQL server (tests/postgres_server.py): URLs, migrations by
several processes at once, and several processes writing the same database at once.

What it promises: ``postgresql://`` means the psycopg driver; a missing driver or an unreachable
server is a ConfigError naming ``database_url`` (never the password); two processes opening a
fresh database both end up at head with one schema; opening a current database takes no lock;
a home in the previous SQLite layout is not silently left behind; and processes claiming the
ingest queue and filling an upload at the same moment never claim a file twice, lose one, or
overfill the upload -- the guarantees the repositories had from SQLite's single writer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from legacy_layout import make_legacy_home
from postgres_server import _free_port
from sqlalchemy.engine import make_url
from test_state_library import _file, _store

from ragkit.errors import ConfigError
from ragkit.state import checked_url, head, open_database, open_home
from ragkit.state import uploads
from ragkit.state.server import ServerState

OPEN_SCRIPT = """
import sys, time
from pathlib import Path
from ragkit.state import open_database
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.002)
print(open_database(sys.argv[1]).revision())
"""
WORK_SCRIPT = """
import json, sys, time
from pathlib import Path
from ragkit.state import uploads
from ragkit.state.server import ServerState
url, go, me = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
db = ServerState(url)
while not go.exists():
    time.sleep(0.002)
claimed, parts = [], 0
for attempt in range(40):
    rows = db.claim(me, 3)
    for row in rows:
        assert db.finish(row["vector_store_id"], row["file_id"], me, "completed", None, 1)
    claimed += [row["file_id"] for row in rows]
    parts += uploads.add_part(db, "upload_1", f"part_{me}_{attempt}", 10, 500).added
    db.insert_file({"id": f"new_{me}_{attempt}", "filename": "n", "bytes": 1, "purpose": "assistants",
                    "created_at": 0, "path": "/n", "sha256": None, "created_by": me})
print(json.dumps({"claimed": claimed, "parts": parts}))
"""


def _start_together(tmp_path: Path, script: str, argument_lists: list[list[str]]) -> list[str]:
    """Run ``script`` once per argument list, all released at the same moment; their outputs."""
    go = tmp_path / "go"
    path = tmp_path / "script.py"
    path.write_text(script)
    processes = [subprocess.Popen([sys.executable, str(path), *arguments], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=dict(os.environ), cwd=tmp_path)
                 for arguments in argument_lists]
    time.sleep(1.0)  # they are importing ragkit; then they start at once
    go.touch()
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [p.returncode for p in processes] == [0] * len(processes), outputs
    return [out for out, _ in outputs]


def test_postgresql_urls_mean_the_psycopg_driver():
    assert checked_url("postgresql://ragkit:secret@db.example:5433/state").drivername == "postgresql+psycopg"
    assert checked_url("postgresql+psycopg://db.example/state").database == "state"


def test_a_missing_driver_says_what_to_install(tmp_path):
    """psycopg made unimportable in a fresh interpreter, as on an install without the extra."""
    script = ("import sys; sys.modules['psycopg'] = None\n"
              "from ragkit.errors import ConfigError\nfrom ragkit.state import open_database\n"
              "try:\n    open_database('postgresql://ragkit:secret@127.0.0.1/ragkit')\n"
              "except ConfigError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "database_url" in done.stdout and "pip install 'ragkit[postgres]'" in done.stdout
    assert "secret" not in done.stdout


def test_an_unreachable_server_is_a_config_error_naming_the_setting():
    url = f"postgresql+psycopg://ragkit:secret@127.0.0.1:{_free_port()}/ragkit"
    with pytest.raises(ConfigError) as caught:
        open_database(url)
    message = str(caught.value)
    assert message.startswith("database_url (RAGKIT_DATABASE_URL): cannot connect to postgresql+psycopg://ragkit:***@")
    assert "secret" not in message


def test_two_processes_opening_a_fresh_database_migrate_it_once(tmp_path, postgres_url):
    outputs = _start_together(tmp_path, OPEN_SCRIPT, [[postgres_url, str(tmp_path / "go")]] * 2)
    assert [out.strip() for out in outputs] == [head(), head()]
    state = open_database(postgres_url)
    assert state.all("SELECT version_num FROM alembic_version") == [{"version_num": head()}]
    state.dispose()


def test_opening_a_current_database_takes_no_lock(postgres_url):
    state = open_database(postgres_url)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with state.backend.migration_lock(state.engine):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        opener = threading.Thread(target=open_database, args=(postgres_url,))
        opener.start()
        opener.join(30)
        assert not opener.is_alive()  # it did not wait for the lock still held
    finally:
        release.set()
        holder.join()
    state.dispose()


def test_a_home_in_the_previous_layout_is_not_left_behind(tmp_path, postgres_url):
    home = make_legacy_home(tmp_path / "home")
    with pytest.raises(ConfigError, match="earlier ragkit .*imported into SQLite only"):
        open_home(home, postgres_url)
    assert (home / "manifest.sqlite").is_file()  # untouched, for the import into SQLite


def test_processes_writing_at_once_never_double_claim_lose_or_overfill(tmp_path, postgres_url):
    state = open_database(postgres_url)
    db = ServerState(state)
    _store(db, "vs_1")
    files = [f"f{i:03d}" for i in range(60)]
    for file_id in files:
        _file(db, file_id)
    db.attach("vs_1", files, {})
    uploads.insert_upload(db, {"id": "upload_1", "filename": "u", "bytes": 500, "purpose": "assistants",
                               "mime_type": "text/plain", "created_at": 0, "expires_at": 10**10,
                               "status": "pending", "created_by": None, "file_id": None})
    workers = [f"w{i}" for i in range(4)]
    outputs = _start_together(tmp_path, WORK_SCRIPT, [[postgres_url, str(tmp_path / "go"), w] for w in workers])

    results = [json.loads(out) for out in outputs]
    claimed = [file_id for result in results for file_id in result["claimed"]]
    assert sorted(claimed) == files  # each file claimed exactly once
    assert db.counts("vs_1")[0] | {"total": 0} == {"in_progress": 0, "completed": 60, "failed": 0, "cancelled": 0,
                                                   "total": 0}
    assert sum(result["parts"] for result in results) == 50  # 160 tries, room for 50 parts of 10 bytes
    assert sum(uploads.part_sizes(db, "upload_1").values()) == 500
    assert len(db.all("SELECT id FROM api_files WHERE id LIKE 'new_%'")) == 4 * 40
    state.dispose()


def test_the_url_keeps_its_password_out_of_names(postgres_url):
    state = open_database(postgres_url)
    assert state.path is None and state.name == make_url(postgres_url).render_as_string(hide_password=True)
    assert repr(state) == f"StateDB({state.name!r})"
    state.dispose()
