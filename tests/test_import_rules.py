"""The layering of DESIGN.md, checked: the UI never loads the training stack, modules import what they may."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "peft", "trl", "bitsandbytes")
UI_TRAINING_MODULES = (
    "training.alert_defaults",
    "training.artifacts",
    "training.alert_notify",
    "training.alert_thresholds",
    "training.alerts",
    "training.commands",
    "training.config",
    "training.config_checks",
    "training.data",
    "training.flags",
    "training.heldout",
    "training.job_config",
    "training.machine_checks",
    "training.messages",
    "training.model_card",
    "training.needs",
    "training.inverse_demo_data",
    "training.preset_notes",
    "training.recipe_presets",
    "training.rewards",
    "training.prompts",
)
"""The light modules of `training` the UI (nover_ui/, app.py) may import: standard library and pandas only."""
LIGHT_EXTRAS = {"training.artifacts": "fsspec"}
"""Light modules that may load one pure-Python library more: the artifact store opens any URL through fsspec, which
loads a backend (s3fs, ...) only when a URL of its kind is used."""
STORE_BINDERS = ("execute.py", "machines.py", "worker.py", "worker_health.py")
"""The modules of `training` that import `storage`: the claim loop, the executor of one claimed run or job, the
machines of a run over several (rank 0's watch over the others, which it fails the run for; a joining machine's
claim and heartbeat of its rank), and the worker's health command (a scheduler's probe: it reads the database's
schema and the worker's row, and writes nothing)."""


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


def test_only_the_worker_and_the_executor_bind_training_to_storage_and_no_training_module_imports_gradio():
    binders = set()
    for path in (ROOT / "training").rglob("*.py"):
        imported = imports_of(path)
        assert "gradio" not in imported, path
        if "storage" in imported:
            binders.add(path.name)
    assert binders == set(STORE_BINDERS)


def test_no_protocol_in_training_stands_in_for_the_store():
    """The executor hands training code plain values; a Protocol of Store methods would be a second Store. The
    two there are: what a trainer reports through, and the rollout fields the failure flags read."""
    protocols = set()
    for path in (ROOT / "training").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(ast.unparse(base).endswith("Protocol") for base in node.bases):
                protocols.add(f"{path.name}:{node.name}")
    assert protocols == {"interface.py:Sink", "flags.py:Rollout"}


def training_modules_imported_by(path: Path) -> set[str]:
    """The `training` modules a file imports anywhere in it (`from training import x` is training.x)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name.split(".")[0] == "training"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "training":
            if node.module == "training":
                names |= {f"training.{alias.name}" for alias in node.names}
            else:
                names.add(node.module)
    return names


def test_the_ui_imports_only_the_listed_light_training_modules():
    for path in [ROOT / "app.py", *sorted((ROOT / "nover_ui").rglob("*.py"))]:
        heavy = training_modules_imported_by(path) - set(UI_TRAINING_MODULES)
        assert not heavy, f"{path.relative_to(ROOT)} imports {sorted(heavy)}; the UI may import {UI_TRAINING_MODULES}"


@pytest.mark.parametrize("module", UI_TRAINING_MODULES)
def test_each_light_training_module_loads_only_the_standard_library_and_pandas(module):
    allowed = {"training"} | third_party_loaded_by("import pandas")  # with what pandas brings (numpy, dateutil, ...)
    if module in LIGHT_EXTRAS:
        allowed |= third_party_loaded_by(f"import {LIGHT_EXTRAS[module]}")
    assert third_party_loaded_by(f"import {module}") <= allowed
