"""The documentation stays true: generated pages are current, public names are documented,
links between the pages resolve and ``make help`` names every target."""

from __future__ import annotations

import importlib.util
import inspect
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: the pages of the user guide; other pages under docs/ (benchmark and evaluation reports) have owners of their own
GUIDE_PAGES = ["README.md", "CHANGELOG.md", "docs/serving.md", "docs/python-api.md", "docs/configuration.md",
               "docs/evaluation.md", "docs/benchmarks.md", "docs/architecture.md", "docs/operations.md",
               "docs/ingestion.md", "docs/answering.md", "docs/web-page.md", "docs/deployment.md"]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["gen_config", "gen_api"])
def test_generated_page_is_current(name: str) -> None:
    script = _script(name)
    assert script.PAGE.read_text(encoding="utf-8") == script.render(), (
        f"{script.PAGE.name} is stale: run .venv/bin/python docs/{name}.py")


def test_every_setting_is_on_the_configuration_page() -> None:
    from ragkit.config import Settings
    from ragkit.server.config import ServerConfig

    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"| `{name}` | `RAGKIT_{name.upper()}`" in page, name
    for name in ServerConfig.__dataclass_fields__:
        assert f"`RAGKIT_SERVE_{name.upper()}`" in page, name
    assert "`--max-upload-mb`" in page and "`--redact-pii`" in page


def test_extra_meanings_name_real_settings_without_a_description() -> None:
    from ragkit.config import Settings

    extra = _script("gen_config").EXTRA_MEANINGS
    for name in extra:
        assert name in Settings.model_fields, f"EXTRA_MEANINGS names {name!r}, which Settings no longer has"
        assert not Settings.model_fields[name].description, (
            f"Settings.{name} now has a description: drop it from EXTRA_MEANINGS")


def test_every_public_name_of_the_python_api_has_a_docstring() -> None:
    import ragkit
    from ragkit.api import KnowledgeBase

    exported = [getattr(ragkit, name) for name in ragkit.__all__ if not name.startswith("__")]
    assert KnowledgeBase in exported
    missing = [obj.__name__ for obj in exported if not (obj.__doc__ or "").strip()]
    for name, member in _script("gen_api").public_members(KnowledgeBase):
        target = member.fget if isinstance(member, property) else member
        if not (inspect.getdoc(target) or "").strip():
            missing.append(f"KnowledgeBase.{name}")
    if not (KnowledgeBase.__init__.__doc__ or "").strip():
        missing.append("KnowledgeBase.__init__")
    assert not missing, f"no docstring: {missing}"


def test_links_between_the_guide_pages_resolve() -> None:
    broken = []
    for page in GUIDE_PAGES:
        path = ROOT / page
        assert path.exists(), f"{page} is missing"
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(f"{page} -> {target}")
    assert not broken, f"broken links: {broken}"


def test_readme_is_a_short_guide_without_changelog_phrasing() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 260
    for phrase in ("no longer", "now also", "this release", "previous release", "used to"):
        assert phrase not in text.lower(), phrase


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_every_target() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.MULTILINE)
    assert phony
    shown = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
                           check=True, timeout=30).stdout
    listed = {line.split()[1] for line in shown.splitlines() if line.startswith("make ")}
    assert set(phony.group(1).split()) <= listed, set(phony.group(1).split()) - listed
