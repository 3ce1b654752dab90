"""The house rules, checked from the code's own imports (ast), so a shortcut fails the build.

* Data flows one way: files -> chunks -> vectors + lexical index -> stores -> retrieval ->
  answer -> surfaces. ``ingest`` (stage one) imports only ragkit's foundation (config, errors,
  records, stores, embedders, text helpers, ingest options, the PDFium lock).
* Inside ``ragkit``, only the surfaces (the Python API, the CLI, the server) import ``ingest``,
  and only its entry point ``ingest.pipeline``: what both sides need lives in the foundation.
* The server reaches stage one only through :mod:`ragkit.api`, never by importing ``ingest``.
* The server is thin: it parses requests, calls the library of vector stores
  (:mod:`ragkit.library`) and the answer engine, and maps their results to OpenAI's shapes. It
  imports only those and the public, surface-facing modules (SERVER_MAY_IMPORT), never the query
  side, stores, embedders, generators or rerankers directly; and the library and the answer
  engine never import the server, the CLI or a web framework.
* The foundation imports only the foundation: never stage one, the query side, answering,
  generators, conversations or a surface. A new module the foundation needs joins FOUNDATION
  (and with it this rule), deliberately.
* No import cycles between modules.
* Files stay small enough to read in one sitting.

Each rule is a function of the import graph, so it is tested twice: on the real code (no
offenders) and on a small made-up graph that breaks it (the rule must name the offender).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ragkit", "ingest")
SURFACES = ("ragkit.api", "ragkit.cli", "ragkit.server")
SERVER = ("ragkit.server",)
#: the core a surface calls: it knows nothing of HTTP
CORE_ENGINES = ("ragkit.library", "ragkit.answer")
WEB_FRAMEWORKS = ("fastapi", "starlette", "uvicorn")
#: what the server may import besides itself (and ``ragkit`` for its version)
SERVER_MAY_IMPORT = ("ragkit.server", "ragkit.library", "ragkit.answer", "ragkit.api", "ragkit.models",
                     "ragkit.errors", "ragkit.config", "ragkit.state", "ragkit.citations", "ragkit.text",
                     "ragkit.llm", "ragkit.conversations", "ragkit.feedback", "ragkit.pages")
#: the one module of stage one a surface may import
STAGE_ONE_ENTRY = "ingest.pipeline"
#: what stage one may use of ragkit, and what everything else builds on
FOUNDATION = ("ragkit.config", "ragkit.errors", "ragkit.models", "ragkit.stores",
              "ragkit.embedders", "ragkit.text", "ragkit.tiktoken_offline", "ragkit.llm",
              "ragkit.ingest_options", "ragkit.pdfium", "ragkit.state")
#: layers above the foundation, named so the guard below notices if one is renamed away
ABOVE_FOUNDATION = ("ingest", "ragkit.query", "ragkit.rerankers", "ragkit.answerability", "ragkit.question_frame",
                    "ragkit.citations", "ragkit.generators", "ragkit.conversations", "ragkit.eval",
                    "ragkit.library", "ragkit.answer", "ragkit.feedback", "ragkit.pages",
                    "ragkit.api", "ragkit.cli", "ragkit.server")
MAX_LINES = 420
DYNAMIC_IMPORTS = ("import_module", "__import__")

Graph = dict[str, set[str]]


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _dynamic_target(node: ast.Call) -> str | None:
    """``importlib.import_module("ingest.x")`` / ``__import__("ingest.x")`` with a literal name."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called in DYNAMIC_IMPORTS and node.args and isinstance(node.args[0], ast.Constant):
        value = node.args[0].value
        return value if isinstance(value, str) else None
    return None


def _imports(path: Path, name: str) -> set[str]:
    """Every ragkit/ingest module this file imports, at any level (lazy imports count too)."""
    return {t for t in _all_imports(path, name) if t.split(".")[0] in PACKAGES}


def _all_imports(path: Path, name: str) -> set[str]:
    """Every module this file imports, third-party ones included, at any level."""
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
        elif isinstance(node, ast.Call) and (target := _dynamic_target(node)):
            targets.add(target)
    return targets


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _graph() -> Graph:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        graph[name] = {t for t in _imports(path, name) if t in modules and t != name}
    return graph


# -- the rules, as functions of a graph -----------------------------------------------------
def _edges(graph: Graph, source: tuple[str, ...]):
    return ((name, target) for name, targets in sorted(graph.items()) if _under(name, source)
            for target in sorted(targets))


def stage_one_reaching_above_foundation(graph: Graph) -> list[str]:
    return [f"{name} imports {target}" for name, target in _edges(graph, ("ingest",))
            if target.startswith("ragkit") and not _under(target, FOUNDATION)]


def stage_one_imported_past_its_entry(graph: Graph) -> list[str]:
    """Non-surfaces import no ``ingest`` module; surfaces import only ``ingest.pipeline``."""
    return [f"{name} imports {target}" for name, target in _edges(graph, ("ragkit",))
            if _under(target, ("ingest",))
            and (not _under(name, SURFACES) or target != STAGE_ONE_ENTRY)]


def server_importing_stage_one(graph: Graph) -> list[str]:
    return [f"{name} imports {target}" for name, target in _edges(graph, SERVER)
            if _under(target, ("ingest",))]


def core_reaching_a_surface(graph: Graph) -> list[str]:
    return [f"{name} imports {target}" for name, target in _edges(graph, CORE_ENGINES)
            if _under(target, ("ragkit.server", "ragkit.cli"))]


def server_past_the_public_api(graph: Graph) -> list[str]:
    """Server modules importing a module outside SERVER_MAY_IMPORT (an allow-list)."""
    return [f"{name} imports {target}" for name, target in _edges(graph, SERVER)
            if target != "ragkit" and not _under(target, SERVER_MAY_IMPORT)]


def web_frameworks_in_core(imports: Graph) -> list[str]:
    """``imports``: every module each module imports, third-party included."""
    return [f"{name} imports {target}" for name, target in _edges(imports, CORE_ENGINES)
            if _under(target, WEB_FRAMEWORKS)]


def foundation_reaching_up(graph: Graph) -> list[str]:
    """Foundation modules importing anything outside the foundation (an allow-list, so a new
    upper layer is covered without being named here)."""
    return [f"{name} imports {target} (not in FOUNDATION)" for name, target in _edges(graph, FOUNDATION)
            if not _under(target, FOUNDATION)]


def import_cycles(graph: Graph) -> list[list[str]]:
    # Package __init__ modules re-export their children; an edge child -> its own package's
    # __init__ is the normal shape of a package, not a cycle between modules.
    edges = {name: {t for t in targets if not name.startswith(t + ".")}
             for name, targets in graph.items()}
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
    return cycles


# -- the rules on the real code -------------------------------------------------------------
def test_stage_one_imports_only_the_foundation():
    offenders = stage_one_reaching_above_foundation(_graph())
    assert not offenders, offenders


def test_only_surfaces_import_stage_one_and_only_its_entry_point():
    offenders = stage_one_imported_past_its_entry(_graph())
    assert not offenders, offenders


def test_the_server_reaches_stage_one_only_through_the_api():
    offenders = server_importing_stage_one(_graph())
    assert not offenders, offenders


def test_the_library_and_answer_engine_know_no_surface():
    offenders = core_reaching_a_surface(_graph())
    assert not offenders, offenders


def test_the_library_and_answer_engine_import_no_web_framework():
    imports = {name: _all_imports(path, name) for name, path in _modules().items()}
    offenders = web_frameworks_in_core(imports)
    assert not offenders, offenders


def test_the_server_goes_through_the_library_and_the_public_api():
    offenders = server_past_the_public_api(_graph())
    assert not offenders, offenders


def test_the_foundation_imports_nothing_above_it():
    offenders = foundation_reaching_up(_graph())
    assert not offenders, offenders


def test_no_import_cycles():
    cycles = import_cycles(_graph())
    assert not cycles, cycles


def test_files_stay_small():
    long = {str(path.relative_to(ROOT)): n for path in _modules().values()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


# -- guarding the guards ----------------------------------------------------------------------
def test_the_rules_see_real_imports():
    """The graph must contain edges we know exist, or every rule passes vacuously."""
    graph = _graph()
    assert "ragkit.stores.manifest" in graph["ingest.pipeline"]
    assert "ingest.pipeline" in graph["ragkit.api"]  # a lazy import inside a method
    assert "ragkit.query.fusion" in graph["ragkit.query.retrieve"]
    assert "ragkit.pdfium" in graph["ingest.loaders.pdf"]
    assert "ragkit.pdfium" in graph["ragkit.pages"]
    assert "ragkit.ingest_options" in graph["ingest.split"]
    assert "ragkit.api" in graph["ragkit.library.registry"]  # how the server reaches stage one
    assert "ragkit.library.retrieval" in graph["ragkit.server.search"]
    assert "ragkit.models" in graph["ragkit.stores.manifest"]


def test_every_named_layer_exists():
    """A renamed module would silently drop out of FOUNDATION or SURFACES and weaken a rule."""
    graph = _graph()
    for module in (*FOUNDATION, *SURFACES, *ABOVE_FOUNDATION, STAGE_ONE_ENTRY):
        assert module in graph, module


def test_dynamic_imports_are_edges_too(tmp_path):
    source = tmp_path / "sneaky.py"
    source.write_text(
        "import importlib\n\ndef f():\n    return importlib.import_module('ingest.split')\n")
    assert _imports(source, "ragkit.sneaky") == {"ingest.split"}


def test_each_rule_names_a_breaking_edge():
    """Each rule, fed a graph with one forbidden edge, names it (and accepts the allowed edge)."""
    assert stage_one_reaching_above_foundation({"ingest.parse": {"ragkit.query.retrieve"}}) == [
        "ingest.parse imports ragkit.query.retrieve"]
    assert not stage_one_reaching_above_foundation({"ingest.parse": {"ragkit.stores.manifest"}})

    assert stage_one_imported_past_its_entry({"ragkit.query.scope": {"ingest.pipeline"}}) == [
        "ragkit.query.scope imports ingest.pipeline"]
    assert stage_one_imported_past_its_entry({"ragkit.api": {"ingest.split"}}) == [
        "ragkit.api imports ingest.split"]
    assert not stage_one_imported_past_its_entry({"ragkit.cli.app": {"ingest.pipeline"}})

    assert server_importing_stage_one({"ragkit.server.files": {"ingest.pipeline"}}) == [
        "ragkit.server.files imports ingest.pipeline"]
    assert not server_importing_stage_one({"ragkit.server.files": {"ragkit.api"}})

    assert core_reaching_a_surface({"ragkit.library.retrieval": {"ragkit.server.errors"}}) == [
        "ragkit.library.retrieval imports ragkit.server.errors"]
    assert not core_reaching_a_surface({"ragkit.library.registry": {"ragkit.api"}})

    assert server_past_the_public_api({"ragkit.server.chat": {"ragkit.query.retrieve"}}) == [
        "ragkit.server.chat imports ragkit.query.retrieve"]
    assert server_past_the_public_api({"ragkit.server.meta": {"ragkit.generators"}}) == [
        "ragkit.server.meta imports ragkit.generators"]
    assert not server_past_the_public_api({"ragkit.server.app": {"ragkit", "ragkit.library"}})

    assert web_frameworks_in_core({"ragkit.library.engine": {"fastapi.responses", "json"}}) == [
        "ragkit.library.engine imports fastapi.responses"]
    assert not web_frameworks_in_core({"ragkit.server.app": {"fastapi"}})

    for upper in ABOVE_FOUNDATION:
        assert foundation_reaching_up({"ragkit.models": {f"{upper}.x"}}) == [
            f"ragkit.models imports {upper}.x (not in FOUNDATION)"]
    assert not foundation_reaching_up({"ragkit.stores.lexical": {"ragkit.text"}})

    assert import_cycles({"a.x": {"a.y"}, "a.y": {"a.x"}})
    assert not import_cycles({"a": {"a.x"}, "a.x": {"a"}})  # a child importing its package


# -- SQL lives in the state layer ----------------------------------------------------------------
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b.*\b(FROM|INTO|SET)\b", re.DOTALL)


def sql_strings(source: str) -> list[str]:
    """String literals (f-string parts included) of ``source`` that read as SQL statements."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if SQL.search(text):
            found.append(text)
    return found


def test_the_server_runs_no_sql_of_its_own():
    """Every statement the server runs is a repository's in ragkit/state: one place to read the
    schema's users, and one place to change when the database does."""
    offenders = {name: strings for name, path in _modules().items() if _under(name, SERVER)
                 if (strings := sql_strings(path.read_text(encoding="utf-8")))}
    assert not offenders, offenders


def test_the_sql_scan_sees_statements():
    assert sql_strings('db.execute("SELECT id FROM t WHERE x=?")')
    assert sql_strings('db.execute(f"UPDATE {table} SET body=? WHERE id=?")')
    assert sql_strings('q = ("INSERT INTO t(a) "\n     "VALUES(?)")')
    assert not sql_strings('"""Select the files from a store; update the cache."""')
