"""Shared pieces of the benchmarks: corpora built from ../shared/datasets, timing, memory, results."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
RESULTS = Path(os.environ.get("RAGKIT_BENCH_RESULTS", ROOT / "bench" / "results"))
WORK = Path(os.environ.get("RAGKIT_BENCH_DIR", "/tmp/ragkit-bench"))

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# Benchmarks obey the same rule as the product: no connection leaves 127.0.0.1. A hidden
# download (a tokenizer file, a model) fails loudly instead of quietly skewing a timing.
from netguard_impl import install as _install_network_guard  # noqa: E402

_install_network_guard()


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%S"), **payload}
    path.write_text(json.dumps(payload, indent=2))
    return path


def update_result(name: str, key: str, figures: dict) -> Path:
    """Put ``figures`` under ``key`` of bench/results/<name>.json, keeping its other keys (one
    results file gathers the experiments of one question, such as refusal)."""
    path = RESULTS / f"{name}.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[key] = figures
    return write_result(name, results)


@contextmanager
def timer():
    result = {}
    start = time.perf_counter()
    yield result
    result["seconds"] = time.perf_counter() - start


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    def q(p):
        position = (len(ordered) - 1) * p
        low = int(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return {"p50": q(0.5), "p95": q(0.95), "mean": statistics.fmean(ordered), "n": len(ordered)}


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def qa_corpus(target: Path, sets: tuple[str, ...] = ("hotpotqa", "musique", "xquad"), copies: int = 1) -> Path:
    """Write the QA sets' paragraphs as files (HotpotQA as .txt, MuSiQue as .md, XQuAD as .txt).

    ``copies > 1`` writes distinct copies (each text tagged with its copy number, so nothing is
    served from the embedding cache) for memory-scaling runs.
    """
    from ragkit.eval.datasets import load_dataset

    fresh_dir(target)
    sources = {"hotpotqa": SHARED / "qa" / "hotpotqa-100", "musique": SHARED / "qa" / "musique-100",
               "xquad": SHARED / "qa" / "xquad-en"}
    for name in sets:
        documents, _ = load_dataset(name, sources[name])
        suffix = ".md" if name == "musique" else ".txt"
        for copy in range(copies):
            folder = target / name / (f"copy{copy}" if copies > 1 else "")
            folder.mkdir(parents=True, exist_ok=True)
            for file_name, text in documents:
                body = text if copies == 1 else f"{text}\n\n(copy {copy})"
                if suffix == ".md":
                    title, _, rest = body.partition("\n\n")
                    body = f"# {title}\n\n{rest}"
                (folder / (file_name[:-4] + suffix)).write_text(body, encoding="utf-8")
    return target


def parseable_documents(target: Path) -> list[Path]:
    """Copy the shared PDFs/DOCX that parse into ``target``; returns the copies."""
    from ingest.loaders import LoadError, load_file

    copied = []
    for source in sorted((SHARED / "documents").rglob("*")):
        if source.suffix.lower() not in (".pdf", ".docx") or not source.is_file():
            continue
        try:
            load_file(source)
        except LoadError:
            continue
        destination = target / "documents" / source.relative_to(SHARED / "documents")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
        copied.append(destination)
    return copied


def peak_rss_mb() -> float:
    """This process's peak RSS. Read from VmHWM, not getrusage: on Linux ``ru_maxrss`` survives
    fork+exec, so a benchmark child would report its parent's peak when that was higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). ``ru_maxrss`` is not used: Linux carries it
    over from the parent into a spawned child, so a small child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
