"""The layering holds: no import cycle between the packages of ``supervisor``, pure cores import no I/O layer."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import Any

import pytest

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
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.startswith("supervisor.")
        ):
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
                return stack[stack.index(nxt) :] + [nxt]
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
    for shared in ("errors", "secrets", "files", "verdicts", "cursors", "throttle"):
        assert graph.get(shared, set()) <= {"errors"} - {shared}, (shared, graph.get(shared))


def test_pure_cores_do_not_import_io_layers() -> None:
    graph = import_graph()
    io_layers = {"cli", "runtime", "worker", "devrelay"}
    for core in ("compose", "policy", "atproto", "report"):
        assert not graph.get(core, set()) & io_layers, (core, graph.get(core))


# --- the pure cores do no I/O ----------------------------------------------------------------

#: Modules of the cores that are the I/O edge by design (they read what the cores are handed).
IO_EDGES = {"policy/sources.py"}
#: The cores' own shipped data, read once on first use: (module, function).
SHIPPED_DATA_READS = {("compose/schema.py", "_schema_bytes")}
#: Calls that touch the file system, the environment or the network.
IO_CALLS = {
    "open",
    "os.open",
    "os.environ",
    "os.getenv",
    "os.stat",
    "os.listdir",
    "os.scandir",
    "os.walk",
    "os.makedirs",
    "os.mkdir",
    "os.remove",
    "os.unlink",
    "os.path.exists",
    "os.path.isfile",
    "os.path.isdir",
    "os.path.realpath",
    "os.path.expanduser",
    "os.getcwd",
    "subprocess",
    "socket",
    "VerdictCache",
}


def _dotted_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted_name(node.value)}.{node.attr}"
    return ""


def io_uses(source: str, module: str) -> list[str]:
    """``module:line name`` for each use of an I/O call in ``source`` (outside the allowed shipped-data reads)."""
    tree = ast.parse(source)
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (module, node.name) in SHIPPED_DATA_READS:
            allowed.update(id(child) for child in ast.walk(node))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in allowed:
            continue
        name = _dotted_name(node) if isinstance(node, (ast.Name, ast.Attribute)) else ""
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] + [getattr(node, "module", None) or ""]
            name = next((n for n in names if n in IO_CALLS), "")
        if name in IO_CALLS:
            found.append((node.lineno, f"{module}:{node.lineno} {name}"))
    return [text for _, text in sorted(found)]


def _core_modules() -> list[Path]:
    paths = [
        *(PACKAGE / "policy").rglob("*.py"),
        *(PACKAGE / "report").rglob("*.py"),
        PACKAGE / "compose" / "schema.py",
        PACKAGE / "compose" / "include.py",
        PACKAGE / "compose" / "extends.py",
    ]
    return sorted(p for p in paths if p.relative_to(PACKAGE).as_posix() not in IO_EDGES)


def test_core_modules_name_no_io_call() -> None:
    found = [
        use
        for path in _core_modules()
        for use in io_uses(path.read_text(encoding="utf-8"), path.relative_to(PACKAGE).as_posix())
    ]
    assert not found, found


def test_the_static_check_finds_io() -> None:
    source = "import os\n\ndef f(key):\n    os.makedirs('/x')\n    with open(key) as h:\n        return os.environ\n"
    assert io_uses(source, "policy/x.py") == [
        "policy/x.py:4 os.makedirs",
        "policy/x.py:5 open",
        "policy/x.py:6 os.environ",
    ]
    assert io_uses("def _schema_bytes():\n    return open('s')\n", "compose/schema.py") == []


class _Watch:
    """Records file, directory, process and network access while on: the audit events, and ``os.stat``.

    ``os.stat`` (behind ``os.path.exists``, ``isfile``, ``isdir``) raises no audit event: it is
    wrapped while the watch is on.
    """

    PREFIXES = ("open", "os.", "shutil.", "subprocess.", "socket.", "glob.")

    def __init__(self) -> None:
        self.on = False
        self.events: list[tuple[str, str]] = []
        sys.addaudithook(self)

    def __call__(self, event: str, args: tuple[object, ...]) -> None:
        if self.on and event.startswith(self.PREFIXES):
            self.events.append((event, repr(args[:1])))

    def __enter__(self) -> "_Watch":
        self.events.clear()
        self.on = True
        self._stat = os.stat

        def stat(path: Any, *args: Any, **kwargs: Any) -> Any:
            self.events.append(("os.stat", repr(path)))
            return self._stat(path, *args, **kwargs)

        os.stat = stat  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        os.stat = self._stat
        self.on = False


_WATCH = _Watch()  # audit hooks cannot be removed: one for the whole run, on only inside `with`


def _evaluate_in_memory(verdicts: Any) -> Any:
    from supervisor.policy.engine import evaluate_project
    from supervisor.policy.sources import builtin_catalog
    from tests.policy.builders import project, service

    catalog = builtin_catalog()  # the shipped data, read by the I/O edge before the engine runs
    svc = service(
        "worker",
        {"BACKFILL_DAYS": "2", "DATABASE_URL": "postgresql://app:pw@db/app"},
        command=["python", "unified_worker.py"],
        extension={"implementation": "publicappview-python"},
    )
    return evaluate_project(
        project(svc, extensions={"x-supervisor": {"relay_window_hours": 48}}),
        catalog=catalog,
        root="/proj",
        verdicts=verdicts,
    )


def test_the_policy_engine_does_no_io() -> None:
    from supervisor.verdicts import MemoryVerdicts

    verdicts = MemoryVerdicts()
    _evaluate_in_memory(None)  # imports (jsonschema, the rules) happen once, outside the watch
    with _WATCH as watch:
        first = _evaluate_in_memory(verdicts)
        second = _evaluate_in_memory(verdicts)
        unchecked = _evaluate_in_memory(None)
    assert watch.events == []
    assert verdicts.keys, "the x-supervisor blocks' verdicts are kept in the store handed in"
    assert [f.code for f in first.findings] == [f.code for f in second.findings] == [f.code for f in unchecked.findings]


def test_the_compose_schema_check_does_no_io() -> None:
    from supervisor.compose.schema import validate, validate_services
    from supervisor.errors import ComposeError
    from supervisor.verdicts import MemoryVerdicts

    model = {"services": {"web": {"image": "nginx", "ports": ["80:80"]}}}
    validate(model, "compose.yaml")  # the shipped schema is read and compiled once, outside the watch
    verdicts = MemoryVerdicts()
    with _WATCH as watch:
        for _ in range(2):
            validate(model, "compose.yaml", verdicts=verdicts)
            validate_services(model, {"web": "compose.yaml"}, verdicts=verdicts)
        with pytest.raises(ComposeError, match="additional properties 'bogus' not allowed"):
            validate({"services": {"web": {"image": "nginx", "bogus": 1}}}, "compose.yaml", verdicts=verdicts)
    assert watch.events == []
    assert len(verdicts.keys) == 2  # the document and the service; the invalid one is not kept


def test_the_watch_sees_a_verdict_cache_on_disk(tmp_path: Path) -> None:
    from supervisor.verdicts import VerdictCache

    with _WATCH as watch:
        _evaluate_in_memory(VerdictCache(str(tmp_path / "verdicts")))
    assert any(event == "open" for event, _ in watch.events), watch.events
