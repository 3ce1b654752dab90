"""A real ``chroma run`` server for tests and benchmarks, on a free port of 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def chroma_binary() -> str:
    """The ``chroma`` command installed with chromadb (beside this Python first)."""
    candidate = Path(sys.executable).parent / "chroma"
    found = str(candidate) if candidate.exists() else shutil.which("chroma")
    if not found:
        raise RuntimeError("the `chroma` command (installed with chromadb) is missing")
    return found


def start_chroma(path: Path, timeout: float = 60) -> tuple[subprocess.Popen, str]:
    """Start ``chroma run`` with its data in ``path``; returns (process, URL) once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([chroma_binary(), "run", "--host", "127.0.0.1", "--port", str(port),
                                "--path", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            return process, url
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError("chroma run did not start") from None
            time.sleep(0.2)


def stop_chroma(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)
