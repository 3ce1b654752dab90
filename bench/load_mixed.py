"""A mixed load against a running ``ragkit serve``, as several real clients would make it.

``clients`` threads, each with its own stock ``openai`` SDK client, run for ``seconds``: upload a
small text file holding one word no other file holds and attach it to a store, search, ask
Responses with ``file_search``, delete files they attached earlier, and now and then create a
throwaway store, attach a large file and delete the store while it is still being ingested.

Afterwards :func:`verify` checks what a client was promised: every acknowledged file ends
``completed`` (and its word finds it) or ``failed``; nothing stays ``in_progress``; each store's
``file_counts`` match its file list; no request got a 5xx or a body with a traceback.

Used by ``tests/test_server_load.py`` (short) and by ``python bench/load_mixed.py --url ...``
(the figures in docs: requests/s and p50/p95 per endpoint).
"""

from __future__ import annotations

import argparse
import json
import random
import string
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

FILLER = ("The maintenance schedule lists inspections of the pump housing, the valve seals and the "
          "control board. Operators record each inspection in the log book and report faults to the "
          "service desk within two working days. ")


def unique_word(rng: random.Random) -> str:
    """Ten letters: a word no document holds by chance (26^10 choices)."""
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(10))


@dataclass
class Attached:
    store: str
    file_id: str
    word: str
    deleted: bool = False


@dataclass
class LoadReport:
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    attached: list[Attached] = field(default_factory=list)
    doomed_stores: int = 0
    drain_seconds: float | None = None

    def summary(self) -> dict[str, Any]:
        """Requests/s and p50/p95 (ms) per endpoint."""
        out: dict[str, Any] = {}
        for name, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            out[name] = {"requests": len(values), "per_second": round(len(values) / self.seconds, 2),
                         "p50_ms": round(1000 * ordered[len(ordered) // 2], 1),
                         "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1)}
        return out


class Client:
    """One simulated client: its own SDK instance, its own random stream, its own files."""

    def __init__(self, make_client: Callable[[], Any], stores: list[str], report: LoadReport, lock: threading.Lock,
                 seed: int, workdir: Path, big_file: Path) -> None:
        self.sdk = make_client()
        self.stores = stores
        self.report = report
        self.lock = lock
        self.rng = random.Random(seed)
        self.workdir = workdir
        self.big_file = big_file
        self.mine: list[Attached] = []

    def _timed(self, name: str, call: Callable[[], Any], expected: tuple[int, ...] = ()) -> Any:
        import openai

        started = time.perf_counter()
        try:
            result = call()
            status = 200
        except openai.APIStatusError as exc:
            status = exc.status_code
            body = exc.response.text if exc.response is not None else ""
            with self.lock:
                self.report.statuses[name][status] += 1
                if status >= 500 or "Traceback" in body or status not in expected:
                    self.report.errors.append(f"{name}: {status} {body[:300]}")
            return None
        except Exception as exc:  # noqa: BLE001 - a dropped connection is a finding, not a crash
            with self.lock:
                self.report.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            return None
        with self.lock:
            self.report.latencies[name].append(time.perf_counter() - started)
            self.report.statuses[name][status] += 1
        return result

    def upload(self) -> None:
        word = unique_word(self.rng)
        path = self.workdir / f"note-{word}.txt"
        path.write_text(f"Field note {word}.\n\n{FILLER * self.rng.randint(1, 4)}\nReference code {word}.\n")
        store = self.rng.choice(self.stores)
        with open(path, "rb") as handle:
            uploaded = self._timed("files.create", lambda: self.sdk.files.create(file=handle, purpose="assistants"))
        if uploaded is None:
            return
        attached = self._timed("vector_stores.files.create",
                               lambda: self.sdk.vector_stores.files.create(vector_store_id=store, file_id=uploaded.id))
        if attached is not None:
            item = Attached(store, uploaded.id, word)
            self.mine.append(item)
            with self.lock:
                self.report.attached.append(item)

    def search(self) -> None:
        store = self.rng.choice(self.stores)
        query = self.rng.choice([a.word for a in self.mine] or ["pump housing inspection"])
        self._timed("vector_stores.search", lambda: self.sdk.vector_stores.search(vector_store_id=store, query=query))

    def respond(self) -> None:
        store = self.rng.choice(self.stores)
        self._timed("responses.create", lambda: self.sdk.responses.create(
            model="ragkit-extractive", input="How soon are faults reported to the service desk?",
            tools=[{"type": "file_search", "vector_store_ids": [store]}]))

    def delete(self) -> None:
        live = [a for a in self.mine if not a.deleted]
        if not live:
            return
        item = self.rng.choice(live)
        if self.rng.random() < 0.5:
            done = self._timed("files.delete", lambda: self.sdk.files.delete(item.file_id))
        else:
            done = self._timed("vector_stores.files.delete", lambda: self.sdk.vector_stores.files.delete(
                file_id=item.file_id, vector_store_id=item.store))
        if done is not None:
            item.deleted = True

    def doomed_store(self) -> None:
        """Create a store, attach a large file, delete the store while the file is ingesting."""
        store = self._timed("vector_stores.create", lambda: self.sdk.vector_stores.create(name="doomed"))
        if store is None:
            return
        with open(self.big_file, "rb") as handle:
            uploaded = self._timed("files.create", lambda: self.sdk.files.create(file=handle, purpose="assistants"))
        if uploaded is None:
            return
        self._timed("vector_stores.files.create",
                    lambda: self.sdk.vector_stores.files.create(vector_store_id=store.id, file_id=uploaded.id))
        time.sleep(self.rng.uniform(0.05, 1.0))
        self._timed("vector_stores.delete", lambda: self.sdk.vector_stores.delete(store.id))
        with self.lock:
            self.report.doomed_stores += 1

    def run(self, deadline: float) -> None:
        actions = [(self.upload, 0.35), (self.search, 0.3), (self.respond, 0.15), (self.delete, 0.15),
                   (self.doomed_store, 0.05)]
        while time.time() < deadline:
            action = self.rng.choices([a for a, _ in actions], weights=[w for _, w in actions])[0]
            action()


def big_text(path: Path, megabytes: float = 1.0) -> Path:
    rng = random.Random(7)
    words = [unique_word(rng)[:rng.randint(3, 9)] for _ in range(2000)]
    lines, size = [], 0
    while size < megabytes * 1_000_000:
        line = " ".join(rng.choice(words) for _ in range(14)) + ".\n"
        lines.append(line)
        size += len(line)
    path.write_text("".join(lines))
    return path


def run_load(make_client: Callable[[], Any], *, clients: int = 8, seconds: float = 60.0, stores: int = 3,
             seed: int = 1) -> tuple[LoadReport, list[str]]:
    """Run the load; returns the report and the ids of the long-lived stores."""
    admin = make_client()
    store_ids = [admin.vector_stores.create(name=f"load-{n}").id for n in range(stores)]
    report = LoadReport()
    lock = threading.Lock()
    workdir = Path(tempfile.mkdtemp(prefix="ragkit-load-"))
    big = big_text(workdir / "big.txt")
    workers = [Client(make_client, store_ids, report, lock, seed * 1000 + n, workdir, big) for n in range(clients)]
    started = time.time()
    deadline = started + seconds
    threads = [threading.Thread(target=w.run, args=(deadline,), name=f"client-{n}") for n, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.seconds = time.time() - started
    return report, store_ids


def wait_drained(client: Any, store_ids: list[str], timeout: float) -> float:
    """Seconds until no file of the stores is ``in_progress`` (raises after ``timeout``)."""
    started = time.time()
    while True:
        busy = sum(client.vector_stores.retrieve(s).file_counts.in_progress for s in store_ids)
        if busy == 0:
            return time.time() - started
        if time.time() - started > timeout:
            raise AssertionError(f"{busy} file(s) still in_progress {timeout:.0f} s after the load")
        time.sleep(0.5)


def verify(client: Any, report: LoadReport, store_ids: list[str]) -> list[str]:
    """What a client was promised, checked; returns the broken promises (empty: all kept)."""
    problems = list(report.errors)
    for store in store_ids:
        listed = list(client.vector_stores.files.list(vector_store_id=store, limit=100))
        by_status: dict[str, int] = defaultdict(int)
        for item in listed:
            by_status[item.status] += 1
        counts = client.vector_stores.retrieve(store).file_counts
        for status in ("completed", "failed", "in_progress", "cancelled"):
            if getattr(counts, status) != by_status[status]:
                problems.append(f"{store}: file_counts.{status}={getattr(counts, status)} but the list has "
                                f"{by_status[status]}")
        if counts.total != len(listed):
            problems.append(f"{store}: file_counts.total={counts.total} but the list has {len(listed)}")
    for item in report.attached:
        if item.deleted:
            continue
        try:
            state = client.vector_stores.files.retrieve(file_id=item.file_id, vector_store_id=item.store)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{item.file_id}: attached and never deleted, but retrieve failed: {exc}")
            continue
        if state.status == "failed":
            continue
        if state.status != "completed":
            problems.append(f"{item.file_id}: status {state.status}")
            continue
        found = client.vector_stores.search(vector_store_id=item.store, query=item.word, max_num_results=5)
        if item.file_id not in [r.file_id for r in found.data]:
            problems.append(f"{item.file_id}: completed, but a search for {item.word!r} does not find it")
    return problems


def main() -> None:
    import openai

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True,
                        help="the base URL of a server started with --rate-limit 0 (the load exceeds the default "
                             "600 requests per minute), e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--key", default="none")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    def make() -> Any:
        return openai.OpenAI(base_url=args.url, api_key=args.key, max_retries=0, timeout=300)

    report, stores = run_load(make, clients=args.clients, seconds=args.seconds)
    report.drain_seconds = wait_drained(make(), stores, timeout=600)
    problems = verify(make(), report, stores)
    result = {"clients": args.clients, "seconds": round(report.seconds, 1), "files_attached": len(report.attached),
              "stores_deleted_mid_ingest": report.doomed_stores, "drain_seconds": round(report.drain_seconds, 1),
              "endpoints": report.summary(), "problems": problems[:50], "problem_count": len(problems)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
