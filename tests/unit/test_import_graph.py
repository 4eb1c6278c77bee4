"""The provider package's import graph: which layer may import which, and no cycles.

Every ``import`` statement counts, wherever it is: at module level, inside functions and under
``TYPE_CHECKING`` (a typing-only import still ties two modules together, and a function-level one is a
dependency that only shows at run time), plus ``importlib.import_module("...")`` with a literal name.
The graph is read from the source with :mod:`ast`; nothing of the package is imported to build it.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

import airflow_provider_nextsign

PACKAGE = airflow_provider_nextsign.__name__
ROOT = Path(airflow_provider_nextsign.__file__).parent
#: Subpackages left out of the graph. None: the sandbox, an independent implementation of the API,
#: is its own distribution outside this package (sandbox/nextsign_sandbox, issue 17 item 2), guarded
#: by tests/sandbox/test_independence.py.
OUTSIDE: tuple[str, ...] = ()
#: Deliberate cycles (a set of modules each) and why. Empty: there are none.
ALLOWED_CYCLES: dict[frozenset[str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
    return {name: path for name, path in found.items() if not name.startswith(OUTSIDE)}


MODULES = _modules()


def _is_import_module(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "import_module") or (
        isinstance(node, ast.Attribute) and node.attr == "import_module"
    )


def _imported_names(name: str, path: Path) -> Iterator[str]:
    """Every dotted name the module at ``path`` imports, absolute, ``from x import y`` as ``x.y``."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and (
            _is_import_module(node.func) or any(_is_import_module(a) for a in node.args)
        ):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    yield arg.value


def _resolve(dotted: str) -> str | None:
    """The package module ``dotted`` is, or the module it names a member of; None outside the package."""
    while dotted and dotted not in MODULES:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = {_resolve(imported) for imported in _imported_names(name, path)}
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


GRAPH = _graph()


def _under(module: str, package: str) -> bool:
    full = f"{PACKAGE}.{package}"
    return module == full or module.startswith(full + ".")


def _edges(source_package: str, target_package: str) -> list[str]:
    return sorted(
        f"{source} -> {target}"
        for source, targets in GRAPH.items()
        if _under(source, source_package)
        for target in targets
        if _under(target, target_package)
    )


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


# -- the reader itself -----------------------------------------------------------------------------


def test_the_graph_sees_module_level_function_level_typing_only_and_dynamic_imports():
    # Known edges of each kind, so a reader that missed one kind could not pass the rules below.
    assert f"{PACKAGE}.api.errors" in GRAPH[f"{PACKAGE}.api.payloads"]  # module level
    assert f"{PACKAGE}.hooks.nextsign" in GRAPH[f"{PACKAGE}.operators.base"]  # typing-only and in a function
    assert f"{PACKAGE}.api.aio" in GRAPH[f"{PACKAGE}.triggers.case"]  # import_module("...") in to_thread
    assert f"{PACKAGE}.reporting.schema" in GRAPH[f"{PACKAGE}.reporting"]  # a package's __init__


def test_the_cycle_finder_finds_a_cycle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [c for c in _strongly_connected(graph) if len(c) > 1] == [{"a", "b", "c"}]


# -- the rules -------------------------------------------------------------------------------------


def test_reporting_imports_nothing_of_the_operators():
    assert _edges("reporting", "operators") == []


def test_operators_import_reporting_only_from_the_report_operator():
    edges = [
        e for e in _edges("operators", "reporting") if not e.startswith(f"{PACKAGE}.operators.reporting ")
    ]
    assert edges == []


def test_operators_reach_the_api_only_through_the_hook_layer():
    # Errors come from airflow_provider_nextsign.exceptions, input checks from hooks.checks.
    assert _edges("operators", "api") == []


def _reaches(start: str, goal: str) -> bool:
    """Whether ``start`` imports ``goal``, directly or through other modules of the package."""
    seen, todo = {start}, [start]
    while todo:
        for target in GRAPH[todo.pop()]:
            if target == goal:
                return True
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return False


@pytest.mark.parametrize(("first", "second"), [("frames", "progress"), ("sql", "migrate")])
def test_no_two_reporting_modules_import_each_other(first, second):
    a, b = f"{PACKAGE}.reporting.{first}", f"{PACKAGE}.reporting.{second}"
    assert not (_reaches(a, b) and _reaches(b, a)), f"{first} and {second} import each other"


def test_no_import_cycles_in_the_package():
    cycles = [c for c in _strongly_connected(GRAPH) if len(c) > 1 and frozenset(c) not in ALLOWED_CYCLES]
    described = ["; ".join(f"{m} -> {', '.join(sorted(GRAPH[m] & c))}" for m in sorted(c)) for c in cycles]
    assert described == []


# -- the report writers share a protocol -----------------------------------------------------------


def _writer_classes() -> list[type]:
    from airflow_provider_nextsign.reporting.files import FileReportWriter
    from airflow_provider_nextsign.reporting.merge import MergeReportWriter
    from airflow_provider_nextsign.reporting.sql import SqlReportWriter

    return [SqlReportWriter, FileReportWriter, MergeReportWriter]


def _protocol_members() -> list[str]:
    from airflow_provider_nextsign.reporting.common import ReportWriter

    return sorted(
        name for name, value in vars(ReportWriter).items() if not name.startswith("_") and callable(value)
    )


def test_the_protocol_declares_what_the_report_operator_and_the_sweep_call():
    members = set(_protocol_members())
    assert {"create_tables", "write", "mark_deleted", "finish", "close", "lookup", "known_count"} <= members


@pytest.mark.parametrize("cls", _writer_classes(), ids=lambda cls: cls.__name__)
def test_every_report_writer_implements_the_protocol(cls):
    from airflow_provider_nextsign.reporting.common import ReportWriter

    instance = object.__new__(cls)  # the protocol check reads attributes only; no engine or folder needed
    assert isinstance(instance, ReportWriter)
    for name in _protocol_members():
        wanted = inspect.signature(getattr(ReportWriter, name))
        have = inspect.signature(getattr(cls, name))
        for param in wanted.parameters.values():
            assert param.name in have.parameters, f"{cls.__name__}.{name} has no parameter {param.name!r}"
            assert have.parameters[param.name].kind == param.kind, f"{cls.__name__}.{name}({param.name})"
        extra = [
            p.name
            for p in have.parameters.values()
            if p.name not in wanted.parameters
            and p.default is p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        assert extra == [], f"{cls.__name__}.{name} needs parameters the protocol does not pass: {extra}"


WRITERS = ("SqlReportWriter", "FileReportWriter", "MergeReportWriter")
WRITER_MODULES = {f"{PACKAGE}.reporting.{m}" for m in ("sql", "files", "merge")}


def _class_checks(path: Path) -> Iterator[int]:
    """Lines where ``isinstance``/``issubclass`` is asked about a concrete writer class."""
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("isinstance", "issubclass")
            and len(node.args) == 2
        ):
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
            if names & set(WRITERS):
                yield node.lineno


def test_no_isinstance_check_on_a_concrete_writer_class_outside_the_writers():
    found = [
        f"{path}:{line}"
        for name, path in MODULES.items()
        if name not in WRITER_MODULES
        for line in _class_checks(path)
    ]
    assert found == []


def test_the_isinstance_finder_sees_a_check_on_a_writer_class(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f(w):\n    return isinstance(w, (sql.SqlReportWriter, int))\n")
    assert list(_class_checks(sample)) == [2]
