"""Statuses are spelled once, in storage/statuses.py: every other module names them through the Status enum."""

import ast
from pathlib import Path

from storage import Status

ROOT = Path(__file__).resolve().parent.parent
STATUSES_MODULE = ROOT / "storage" / "statuses.py"
SKIPPED = (ROOT / "tests", ROOT / "storage" / "migrations" / "versions", ROOT / ".venv", ROOT / "test-artifacts")
"""Tests spell the stored values on purpose; a migration is history and must keep what it wrote then."""


def project_files() -> list[Path]:
    return [
        path
        for path in sorted(ROOT.rglob("*.py"))
        if path != STATUSES_MODULE and not any(path.is_relative_to(skipped) for skipped in SKIPPED)
    ]


def status_literals(path: Path) -> list[str]:
    values = {status.value for status in Status}
    return [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in values
    ]


def test_the_walk_sees_the_project():
    names = {path.relative_to(ROOT).as_posix() for path in project_files()}
    assert {"app.py", "storage/store.py", "nover_ui/runs_tab.py", "training/worker.py", "bench/__init__.py"} <= names
    assert not any(name.startswith(("tests/", "storage/migrations/versions/")) for name in names)


def test_no_module_spells_a_status_outside_the_statuses_module():
    found = sorted(literal for path in project_files() for literal in status_literals(path))
    assert found == [], "use storage.Status instead of these strings:\n" + "\n".join(found)
