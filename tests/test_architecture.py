"""The rules of docs/architecture.md, checked on the source tree.

Each rule is what a contributor keeps: which package may import which, no import cycle,
modules and functions a reader takes in at once, and no formatter escapes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tuner", "audit", "reports")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
# A function may run longer when its docstring says why ("Long because ...").
LONG_REASON = re.compile(r"long because", re.IGNORECASE)

# The arrows allowed between the top-level packages. `tuner.main` is the one entry point
# that assembles every command, so it alone may import the other packages' CLIs.
ALLOWED = {
    "tuner": {"tuner"},
    "audit": {"audit", "tuner"},
    "reports": {"reports", "tuner", "audit"},
}
ENTRY_POINTS = {"tuner.main"}


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


MODULES = dict(_modules())


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imports(name: str, tree: ast.Module) -> set[str]:
    """The project modules ``name`` imports, anywhere in the file."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in MODULES)
    return found


def test_packages_import_only_downwards() -> None:
    wrong = []
    for name, path in MODULES.items():
        if name in ENTRY_POINTS:
            continue
        top = name.split(".")[0]
        for target in _imports(name, _tree(path)):
            if target.split(".")[0] not in ALLOWED[top]:
                wrong.append(f"{name} imports {target}")
    assert not wrong, "imports against the package arrows:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle() -> None:
    """Lazy imports inside functions count too: they hide a cycle, they do not remove it."""
    # A package's __init__ importing its own children is not a cycle a reader trips over.
    graph = {
        name: {t for t in _imports(name, _tree(path)) if t != name and not t.startswith(name + ".")}
        for name, path in MODULES.items()
    }
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_is_short_enough(name: str) -> None:
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines (at most {MAX_MODULE_LINES})"


def test_long_functions_say_why() -> None:
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            reason = LONG_REASON.search(ast.get_docstring(node) or "")
            if length > MAX_FUNCTION_LINES and not reason:
                long.append(f"{name}.{node.name}: {length} lines")
    assert not long, "functions over 80 lines without 'Long because' in the docstring:\n" + (
        "\n".join(long)
    )


def test_no_formatter_escapes() -> None:
    marked = [
        str(path.relative_to(ROOT))
        for top in (*PACKAGES, "tests", "benchmarks", "examples")
        for path in (ROOT / top).rglob("*.py")
        if "fmt: skip" in path.read_text(encoding="utf-8")
        and path.resolve() != Path(__file__).resolve()
    ]
    assert not marked, f"`# fmt: skip` in {marked}"


def test_benchmarks_and_tests_leave_sys_path_alone() -> None:
    edits = [
        str(path.relative_to(ROOT))
        for top in ("benchmarks", "tests")
        for path in (ROOT / top).rglob("*.py")
        if re.search(r"sys\.path\.(insert|append)", path.read_text(encoding="utf-8"))
        and path.resolve() != Path(__file__).resolve()
    ]
    assert not edits, f"sys.path edited in {edits}"
