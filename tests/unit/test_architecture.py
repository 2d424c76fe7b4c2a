"""The import direction of DESIGN §2, the public API, and the purity of the core."""

from __future__ import annotations

import ast
from pathlib import Path

import tunefleet

ROOT = Path(tunefleet.__file__).parent

# package -> the packages of ours it may import (errors and registry are leaves anyone may use)
ALLOWED = {
    "core": {"core"},
    "samplers": {"core", "samplers"},
    "pruners": {"core", "pruners"},
    "journal": {"core", "journal"},
    "protocol": {"protocol"},
    "transport": {"transport"},
}
LEAVES = {"errors", "registry"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tunefleet"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "tunefleet" and len(parts) > 1:
                    found.add(parts[1])
    return found


def test_import_direction() -> None:
    bad = []
    for package, allowed in ALLOWED.items():
        for path in (ROOT / package).rglob("*.py"):
            for imported in _imports(path) - allowed - LEAVES:
                bad.append(f"{path.relative_to(ROOT)} imports tunefleet.{imported}")
    assert bad == []


def test_nothing_imports_cli() -> None:
    users = [
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if p.name not in ("cli.py", "__main__.py") and "cli" in _imports(p)
    ]
    assert users == []


def test_transport_knows_no_protocol_or_pydantic() -> None:
    for path in (ROOT / "transport").rglob("*.py"):
        assert "protocol" not in _imports(path), path
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                    a.name for a in node.names]
                assert not any(n.startswith("pydantic") for n in names), path


def test_pure_packages_read_no_clock_and_do_no_io() -> None:
    forbidden = ("time.time", "time.monotonic", "datetime.now", "open(", "random.random",
                 "os.environ", "socket", "sqlite3", "pika")
    for package in ("core", "samplers", "pruners"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            for word in forbidden:
                assert word not in text, f"{path.relative_to(ROOT)} uses {word}"


def test_public_api_is_listed() -> None:
    exported = {n for n in dir(tunefleet) if not n.startswith("_")}
    modules = {"client", "convert", "core", "coordinator", "errors", "journal", "launch",
               "protocol", "pruners", "registry", "samplers", "spec", "status", "transport",
               "worker", "cli"}
    assert exported - modules <= set(tunefleet.__all__)
    for name in tunefleet.__all__:
        assert hasattr(tunefleet, name), name


def test_no_module_is_too_long() -> None:
    long = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
            if len(p.read_text().splitlines()) > 550]
    assert long == []
