"""The house rules, checked from the code's own imports (ast), so a shortcut fails the build.

* Data flows one way: ``ingest`` (stage one) imports only ragkit's foundation (config, errors,
  records, stores, embedders and text helpers), never the query side or a surface.
* Inside ``ragkit``, only the surfaces (the Python API, the CLI, the server) import ``ingest``.
* No import cycles between modules.
* Files stay small enough to read in one sitting.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ragkit", "ingest")
SURFACES = ("ragkit.api", "ragkit.cli", "ragkit.server")
#: what stage one may use of ragkit
FOUNDATION = ("ragkit.config", "ragkit.errors", "ragkit.models", "ragkit.stores", "ragkit.embedders",
              "ragkit.text", "ragkit.tiktoken_offline", "ragkit.llm")
MAX_LINES = 420


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(path: Path, name: str) -> set[str]:
    """Every ragkit/ingest module this file imports, at any level (lazy imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {t for t in targets if t.split(".")[0] in PACKAGES}


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        graph[name] = {t for t in _imports(path, name) if t in modules and t != name}
    return graph


def test_stage_one_imports_only_the_foundation():
    offenders = [
        f"{name} imports {target}"
        for name, targets in _graph().items() if name.startswith("ingest")
        for target in targets if target.startswith("ragkit") and not _under(target, FOUNDATION)
    ]
    assert not offenders, offenders


def test_only_surfaces_import_stage_one():
    offenders = [
        f"{name} imports {target}"
        for name, targets in _graph().items() if name.startswith("ragkit") and not _under(name, SURFACES)
        for target in targets if target.startswith("ingest")
    ]
    assert not offenders, offenders


def test_no_import_cycles():
    graph = _graph()
    # Package __init__ modules re-export their children; an edge child -> its own package's
    # __init__ is the normal shape of a package, not a cycle between modules.
    edges = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


def test_files_stay_small():
    long = {str(path.relative_to(ROOT)): n for path in _modules().values()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_the_rules_see_real_imports():
    """Guard the guard: the graph must contain edges we know exist, or every rule passes vacuously."""
    graph = _graph()
    assert "ragkit.stores.manifest" in graph["ingest.pipeline"]
    assert "ingest.pipeline" in graph["ragkit.api"]
    assert "ragkit.query.fusion" in graph["ragkit.query.retrieve"]
