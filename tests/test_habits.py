"""Habits of the code base, checked on every project file: reasons on `# type: ignore`, doctests that run.

The linters and the type checker run from `make test` before pytest (config in pyproject.toml); what they cannot
say is checked here: a suppressed type error says why on the same line, and every worked example in a docstring
of a pure module (no training stack, no gradio) still gives the output it shows.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nover_ui", "training", "storage", "bench", "tests")
HEAVY = frozenset({"torch", "transformers", "peft", "trl", "bitsandbytes", "gradio"})
"""Imports that make a module impure: slow to load, and not what a doctest of a helper should need."""

# mypy reads `# type: ignore[code]` and then only another comment, so the reason follows as `  # why`.
TYPE_IGNORE = re.compile(r"^#\s*type:\s*ignore\b(?P<codes>\[[^\]]*\])?(?P<rest>.*)")
REASON = re.compile(r"^\s*#\s*(?=.*[a-zA-Z]{3})")


def project_files() -> list[Path]:
    files = [ROOT / "app.py"]
    for package in PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unexplained_ignores(source: str) -> list[tuple[int, str]]:
    """(line, comment) of each `# type: ignore` comment with no reason after it.

    >>> unexplained_ignores("x = f()  # type: ignore[arg-type]  # f has no stubs\\ny = g()  # type: ignore\\n")
    [(2, '# type: ignore')]
    >>> unexplained_ignores("s = '# type: ignore'\\nz = h()  # type: ignore[misc] - no hash sign\\n")
    [(2, '# type: ignore[misc] - no hash sign')]
    """
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        match = TYPE_IGNORE.search(token.string) if token.type == tokenize.COMMENT else None
        if match and not REASON.match(match["rest"]):
            found.append((token.start[0], token.string))
    return found


def test_every_type_ignore_says_why_on_its_line():
    offences = [
        f"{path.relative_to(ROOT)}:{line}: {comment}"
        for path in project_files()
        for line, comment in unexplained_ignores(path.read_text(encoding="utf-8"))
    ]
    assert offences == [], (
        "write the reason after the ignore as another comment, e.g. "
        "`# type: ignore[no-untyped-def]  # a transformers callback hook, typed there`:\n" + "\n".join(offences)
    )


def imported_names(tree: ast.Module) -> set[str]:
    """Every module an import statement names, at the top or inside a function, with its parent packages."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            dotted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from package import name`: the name may itself be a submodule.
            dotted = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in dotted:
            parts = name.split(".")
            names |= {".".join(parts[: i + 1]) for i in range(len(parts))}
    return names


def pure_modules() -> set[str]:
    """Project modules that import none of HEAVY, directly or through another project module."""
    imports = {
        module_name(path): imported_names(ast.parse(path.read_text(encoding="utf-8"))) for path in project_files()
    }
    heavy = {module for module, names in imports.items() if names & HEAVY}
    grew = True
    while grew:  # spread heaviness to every importer until nothing changes
        reached = {module for module, names in imports.items() if module not in heavy and names & heavy}
        heavy |= reached
        grew = bool(reached)
    return set(imports) - heavy


def modules_with_examples() -> list[str]:
    by_name = {module_name(path): path for path in project_files()}
    return sorted(name for name in pure_modules() if ">>>" in by_name[name].read_text(encoding="utf-8"))


def test_doctests_are_collected_from_the_reward_and_flag_modules_and_not_from_the_training_stack():
    collected = modules_with_examples()
    assert {"training.rewards", "training.flags"} <= set(collected), collected
    assert {"training.scorer", "training.grpo", "nover_ui.safe_text"}.isdisjoint(pure_modules())


@pytest.mark.parametrize("name", modules_with_examples())
def test_doctests_of_pure_module(name):
    module = importlib.import_module(name)
    examples = [test for test in doctest.DocTestFinder().find(module) if test.examples]
    assert examples, f"{name} has '>>>' in its source but no doctest was found in its docstrings"
    report = io.StringIO()
    runner = doctest.DocTestRunner()
    for test in examples:
        runner.run(test, out=report.write)
    if runner.failures:
        pytest.fail(f"{runner.failures} doctest example(s) of {name} failed:\n{report.getvalue()}", pytrace=False)
