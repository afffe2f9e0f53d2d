"""No import cycle among the project's modules (DESIGN.md, import rules), counting the imports inside functions:
a cycle that only closes at call time still ties the two modules into one idea."""

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nover_ui", "training", "storage")


def project_files() -> Iterator[Path]:
    yield ROOT / "app.py"
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The project modules a file imports anywhere in it: `import x.y` is x.y, `from x import y` is x.y when that
    is a module and x otherwise; relative imports are resolved against the file's package."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found & modules


def import_graph() -> dict[str, set[str]]:
    paths = list(project_files())
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path, modules) - {module_name(path)} for path in paths}


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that ends where it starts, or None (a depth-first walk)."""
    on_path, finished = set(), set()
    for start in sorted(graph):
        if start in finished:
            continue
        path, branches = [start], [iter(sorted(graph[start]))]
        on_path.add(start)
        while branches:
            following = next(branches[-1], None)
            if following is None:
                on_path.discard(path[-1])
                finished.add(path.pop())
                branches.pop()
            elif following in on_path:
                return path[path.index(following) :] + [following]
            elif following not in finished:
                on_path.add(following)
                path.append(following)
                branches.append(iter(sorted(graph.get(following, ()))))
    return None


def test_the_cycle_finder_names_a_cycle_and_passes_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_imports_inside_functions_and_from_package_imports():
    graph = import_graph()
    assert "training.execute" in graph["training.run"]  # imported inside main()
    assert "training.execute" in graph["training.worker"]
    assert "storage.errors" in graph["storage.store"]


def test_no_project_module_imports_itself_through_others():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
