"""The layering of DESIGN.md, checked: the UI never loads the training stack, modules import what they may."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "peft", "trl", "bitsandbytes")


def loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_ui_process_never_imports_the_training_stack():
    modules = loaded_after(
        "import app, nover_ui.app, nover_ui.runs_tab, nover_ui.queue; "
        "nover_ui.app.build_app(__import__('storage').Store('sqlite://'), __import__('pathlib').Path('/tmp'))"
    )
    assert {m.split(".")[0] for m in modules} & set(HEAVY) == set()


def third_party_loaded_by(statement: str) -> set[str]:
    """Top-level non-stdlib modules a statement loads beyond what the interpreter starts with."""
    baseline = loaded_after("pass")
    added = {m.split(".")[0] for m in loaded_after(statement) - baseline}
    return {m for m in added - set(sys.stdlib_module_names) if not m.startswith("_")}


def test_training_config_imports_only_the_standard_library():
    assert third_party_loaded_by("import training.config") == {"training"}


def test_storage_imports_only_sqlalchemy_alembic_and_the_standard_library():
    # What those two load themselves: mako, markupsafe and pygments (alembic), typing_extensions, greenlet
    # and cython_runtime (SQLAlchemy's compiled extensions).
    allowed = {
        "storage",
        "sqlalchemy",
        "alembic",
        "mako",
        "markupsafe",
        "pygments",
        "typing_extensions",
        "greenlet",
        "cython_runtime",
    }
    assert third_party_loaded_by("import storage") <= allowed


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_worker_binds_training_to_storage_and_no_training_module_imports_gradio():
    for path in (ROOT / "training").rglob("*.py"):
        imported = imports_of(path)
        assert "gradio" not in imported, path
        if path.name != "worker.py":
            assert "storage" not in imported, path
