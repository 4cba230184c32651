"""The layering holds: no import cycle between the packages of ``supervisor``, pure cores import no I/O layer."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "supervisor"


def _unit(module: str) -> str:
    """``supervisor.compose.loader`` -> ``compose``; ``supervisor.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (imports for annotations only, never run)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped.update(id(child) for body in node.body for child in ast.walk(body))
    return skipped


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("supervisor."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                node.module.startswith("supervisor."):
            found.add(node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    """Package -> the packages its modules import (every import, also those inside functions)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        unit = _unit(".".join(relative.parts))
        if not unit or unit == "__main__":
            continue
        graph.setdefault(unit, set()).update(u for u in map(_unit, _imports(path)) if u and u != unit)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_packages_import_each_other_without_a_cycle() -> None:
    cycle = _cycle(import_graph())
    assert not cycle, " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_shared_modules_sit_below_every_package() -> None:
    graph = import_graph()
    for shared in ("errors", "secrets", "files"):
        assert graph.get(shared, set()) <= {"errors"} - {shared}, (shared, graph.get(shared))


def test_pure_cores_do_not_import_io_layers() -> None:
    graph = import_graph()
    io_layers = {"cli", "runtime", "worker", "devrelay"}
    for core in ("compose", "policy", "atproto", "report"):
        assert not graph.get(core, set()) & io_layers, (core, graph.get(core))
