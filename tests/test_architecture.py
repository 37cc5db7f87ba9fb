"""The walls, enforced: an AST pass over every import in src/leadml and serve/leadml_serve.

Every import counts: module level, inside functions, under `if TYPE_CHECKING:`, absolute
and relative. Nothing is imported, so the whole check costs a parse of each file.

- `leadml.features` and `leadml.model` stay pure: no MLflow, web, SQL or dask, and none
  of our file-reading modules, directly or through any chain of our modules (a package's
  `__init__` runs whenever one of its modules is imported, so it counts as reached).
- `src/leadml` never imports `leadml_serve`.
- `leadml_serve` reaches leadml only through the Scorer, the bundle, registry loading,
  the store, the ranked list and the contract (and the CLI, at the composition root).
- Dask (`dask`, `distributed`) is imported only inside `leadml.engine`, and code outside
  the engine imports `leadml.engine` only where it runs when the Dask engine is chosen
  (inside a function, or for type checking): the local engine never loads Dask.
- No import cycles among our modules, counting imports inside functions.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ((ROOT / "src", "leadml"), (ROOT / "serve", "leadml_serve"))
"""(folder on sys.path, top-level package) pairs: our code."""

PURE = ("leadml.features", "leadml.model")
PURE_FORBIDDEN_LIBRARIES = ("mlflow", "fastapi", "starlette", "sqlalchemy", "dask")
PURE_FORBIDDEN_MODULES = (
    "leadml.data",
    "leadml.store",
    "leadml.tracking",
    "leadml.jobs",
    "leadml.cli",
    "leadml.report",
)
"""Our modules that read or write files (or run jobs): never imported by pure code. All of
`leadml.data` reads files (io, load, validate, the mapping reader, truth, synth's writer)
except its pure config half below."""
PURE_MAY_IMPORT = ("leadml.data.mapping.config",)
"""The one exception: the mapping's pure config. The package inits above it run when it is
imported; the transitive check follows them, so they must stay free of I/O too."""

SERVE = "leadml_serve"
SERVE_MAY_IMPORT = (
    "leadml",
    "leadml.config",
    "leadml.errors",
    "leadml.schema",
    "leadml.scoring",
    "leadml.bundle",
    "leadml.tracking.registry",
    "leadml.store",
    "leadml.ranked",
    "leadml.vocabulary",
)
"""What leadml_serve may import from leadml (each module, or the package and its modules)."""
COMPOSITION_ROOT = "leadml_serve.cli"
"""The console script's module: the only serve module that may import `leadml.cli`."""

ENGINE = "leadml.engine"
DASK_LIBRARIES = ("dask", "distributed")
"""Imported only inside `ENGINE`."""


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to the module it loads."""

    source: str
    """The importing module, e.g. 'leadml.features.flat'."""
    path: Path
    line: int
    name: str
    """The absolute name imported, e.g. 'mlflow.pyfunc' or 'leadml.store.write_batch'."""
    module: str | None
    """The module of ours it loads (None for third-party): `from pkg import name` loads
    `pkg.name` when that is a module, else `pkg`; a package is its `__init__`."""
    eager: bool = True
    """Runs when its module is imported: not inside a function, nor under
    `if TYPE_CHECKING:`."""

    def where(self) -> str:
        try:
            shown = self.path.relative_to(ROOT)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}"


def module_files(packages: Iterable[tuple[Path, str]]) -> dict[str, Path]:
    """Every module of ours by dotted name ('leadml.data' is data/__init__.py)."""
    found: dict[str, Path] = {}
    for base, top in packages:
        for path in sorted((base / top).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _absolute(node: ast.ImportFrom, source: str, is_package: bool) -> str:
    """The absolute module of `from ... import`, resolving leading dots against `source`."""
    if node.level == 0:
        return node.module or ""
    package = source.split(".")
    if not is_package:
        package.pop()
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _ours(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of `name` that is one of our modules (None for third-party)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def _eager_imports(tree: ast.Module) -> set[ast.stmt]:
    """The import statements that run when the module is imported: every one outside
    function bodies and `if TYPE_CHECKING:` blocks (class bodies, `try` and other `if`s run)."""
    eager: set[ast.stmt] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            eager.add(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        else:
            for name in ("body", "orelse", "finalbody", "handlers", "cases"):
                for child in getattr(node, name, ()):
                    pending.extend(
                        child.body
                        if isinstance(child, ast.excepthandler | ast.match_case)
                        else [child]
                    )
    return eager


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every import in one file, wherever it sits (functions, classes, `if` blocks)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    eager = _eager_imports(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _ours(alias.name, modules)
                yield Import(source, path, node.lineno, alias.name, target, node in eager)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, source, is_package)
            for alias in node.names:
                full = f"{base}.{alias.name}" if alias.name != "*" else base
                target = full if full in modules else _ours(base, modules)
                yield Import(source, path, node.lineno, full, target, node in eager)


def all_imports(packages: Iterable[tuple[Path, str]]) -> list[Import]:
    """Every import in our code, in file and line order."""
    modules = module_files(packages)
    return [
        found for source, path in modules.items() for found in imports_of(source, path, modules)
    ]


def _within(name: str, prefixes: Iterable[str]) -> str | None:
    """The prefix that `name` is (or sits under), if any."""
    for prefix in prefixes:
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return None


def pure_violations(found: list[Import]) -> list[str]:
    """Imports from features/ or model/ of I/O libraries or of our file-reading modules."""
    out = []
    for imp in found:
        if _within(imp.source, PURE) is None:
            continue
        library = _within(imp.name, PURE_FORBIDDEN_LIBRARIES)
        ours = (
            None
            if imp.module in PURE_MAY_IMPORT
            else _within(imp.module or "", PURE_FORBIDDEN_MODULES)
        )
        if library or ours:
            why = f"{library} is I/O" if library else f"{imp.module} reads files or runs jobs"
            out.append(f"{imp.where()}: {imp.source} imports {imp.name} ({why})")
    return out


def _packages_above(module: str) -> list[str]:
    """The packages whose `__init__` runs before `module`: 'a.b.c' -> ['a', 'a.b']."""
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


@dataclass(frozen=True)
class Step:
    """How the transitive walk first reached a module."""

    previous: str
    via: Import | None
    """The import that ran it (for a package init: the import of a module inside it); None
    for the packages above a pure module itself."""
    as_package: bool


def _runs(module: str, graph: dict[str, dict[str, Import]]) -> Iterator[tuple[str, Step]]:
    """What `module`'s imports run, in order: each target's package inits, then the target."""
    for target, imp in sorted(graph.get(module, {}).items()):
        for package in _packages_above(target):
            yield package, Step(module, imp, as_package=True)
        yield target, Step(module, imp, as_package=False)


def reach_from_pure(found: list[Import]) -> dict[str, Step | None]:
    """Every module that importing features/ or model/ runs, with the step that first
    reached it (None for the pure modules themselves).

    One breadth-first walk from all pure modules at once, over every import of ours (inside
    functions too) and the package inits each import runs, so each chain is a shortest one."""
    graph = import_graph(found)
    starts = sorted(m for m in graph if _within(m, PURE))
    reached: dict[str, Step | None] = dict.fromkeys(starts)
    queue = deque(starts)
    for start in starts:
        for package in _packages_above(start):
            if package not in reached:
                reached[package] = Step(start, None, as_package=True)
                queue.append(package)
    while queue:
        module = queue.popleft()
        for target, step in _runs(module, graph):
            if target not in reached:
                reached[target] = step
                queue.append(target)
    return reached


def _chain(module: str, reached: dict[str, Step | None]) -> tuple[str, Import | None]:
    """'a -> b [package] -> c' from a pure module to `module`, and its first import."""
    names: list[str] = []
    first: Import | None = None
    step = reached[module]
    while step is not None:
        names.append(module + (" [package]" if step.as_package else ""))
        first, module = step.via, step.previous
        step = reached[module]
    return " -> ".join([module, *reversed(names)]), first


def transitive_pure_violations(found: list[Import]) -> list[str]:
    """Pure code reaching I/O through our other modules, with the chain that reaches it: one
    message per reached module and what it imports (an I/O library, or one of our
    file-reading modules), at its first such import."""
    reached = reach_from_pure(found)
    out = []
    seen: set[tuple[str, str]] = set()
    for imp in found:
        if imp.source not in reached or _within(imp.source, PURE):
            continue  # direct imports from pure code: pure_violations reports them
        library = _within(imp.name, PURE_FORBIDDEN_LIBRARIES)
        ours = (
            None
            if imp.module in PURE_MAY_IMPORT
            else _within(imp.module or "", PURE_FORBIDDEN_MODULES)
        )
        what = imp.name if library else imp.module
        if what is None or not (library or ours) or (imp.source, library or what) in seen:
            continue
        seen.add((imp.source, library or what))
        chain, first = _chain(imp.source, reached)
        start = f"{first.where()}: " if first is not None else ""
        why = f"{library} is I/O" if library else f"{what} reads files or runs jobs"
        out.append(f"{start}{chain} imports {what} at {imp.where()} ({why})")
    return out


def serve_import_violations(found: list[Import]) -> list[str]:
    """src/leadml importing leadml_serve, or leadml_serve reaching past its allowed doors."""
    out = []
    for imp in found:
        target = imp.module or imp.name
        if imp.source.startswith("leadml.") or imp.source == "leadml":
            if _within(imp.name, (SERVE,)):
                out.append(f"{imp.where()}: {imp.source} imports {imp.name} (core never "
                           "imports leadml_serve)")  # fmt: skip
            continue
        if not _within(target, ("leadml",)):
            continue
        allowed = target in SERVE_MAY_IMPORT or _within(target, ("leadml.store",))
        if _within(target, ("leadml.cli",)) and imp.source == COMPOSITION_ROOT:
            allowed = True
        if not allowed:
            out.append(
                f"{imp.where()}: {imp.source} imports {imp.name} (leadml_serve may import "
                f"only {', '.join(SERVE_MAY_IMPORT)}; leadml.cli only in {COMPOSITION_ROOT})"
            )
    return out


def dask_violations(found: list[Import]) -> list[str]:
    """Dask imported outside `leadml.engine`, and `leadml.engine` imported outside itself
    where it runs on import (so choosing the local engine would load Dask)."""
    out = []
    for imp in found:
        if _within(imp.source, (ENGINE,)):
            continue
        library = _within(imp.name, DASK_LIBRARIES)
        if library:
            out.append(
                f"{imp.where()}: {imp.source} imports {imp.name} ({library} belongs in "
                f"{ENGINE}: call the engine from the job that chose it)"
            )
        elif imp.eager and _within(imp.module or "", (ENGINE,)):
            out.append(
                f"{imp.where()}: {imp.source} imports {imp.module} when it is imported (the "
                f"local engine would load Dask: import {ENGINE} inside the function that "
                "chose the Dask engine)"
            )
    return out


def import_graph(found: list[Import]) -> dict[str, dict[str, Import]]:
    """module -> {module it imports: the first such import}; self-imports dropped."""
    graph: dict[str, dict[str, Import]] = {}
    for imp in found:
        graph.setdefault(imp.source, {})
        if imp.module is not None and imp.module != imp.source:
            graph[imp.source].setdefault(imp.module, imp)
    return graph


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's strongly connected components of size > 1, each sorted (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, {}))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                if len(members) > 1:
                    found.append(sorted(members))
    return sorted(found)


def cycle_violations(found: list[Import]) -> list[str]:
    """One message per import cycle: its members and the imports that close it."""
    graph = import_graph(found)
    out = []
    for members in strongly_connected(graph):
        inside = set(members)
        edges = [
            f"    {imp.where()}: {source} -> {target}"
            for source in members
            for target, imp in sorted(graph.get(source, {}).items())
            if target in inside
        ]
        out.append(f"import cycle among {', '.join(members)}:\n" + "\n".join(edges))
    return out


def _fail(problems: list[str], what: str) -> None:
    assert not problems, f"{len(problems)} {what}:\n" + "\n".join(problems)


# --- the walls of this repository ----------------------------------------------------


def test_features_and_model_do_no_io() -> None:
    _fail(pure_violations(all_imports(PACKAGES)), "imports break the pure-core wall")


def test_features_and_model_reach_no_io_through_other_modules() -> None:
    _fail(
        transitive_pure_violations(all_imports(PACKAGES)),
        "chains from features/ or model/ reach I/O",
    )


def test_serve_reaches_leadml_only_through_its_doors() -> None:
    _fail(serve_import_violations(all_imports(PACKAGES)), "imports break the serve wall")


def test_dask_lives_in_the_engine_and_loads_only_when_chosen() -> None:
    _fail(dask_violations(all_imports(PACKAGES)), "imports break the engine wall")


def test_no_import_cycles() -> None:
    _fail(cycle_violations(all_imports(PACKAGES)), "import cycles")


def test_every_module_is_parsed() -> None:
    modules = module_files(PACKAGES)
    # The check must see both trees and the function-level imports inside them.
    assert "leadml.scoring" in modules and "leadml_serve.app" in modules
    assert "leadml.features.spec" in modules
    found = all_imports(PACKAGES)
    assert {imp.source for imp in found} >= {"leadml.scoring", "leadml_serve.app"}


# --- the checker catches violations -----------------------------------------------


def _write(base: Path, relative: str, text: str) -> None:
    path = base / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _fake_tree(tmp_path: Path) -> list[tuple[Path, str]]:
    """A tiny leadml + leadml_serve with one violation of each wall."""
    src, serve = tmp_path / "src", tmp_path / "serve"
    for package in ("leadml", "leadml/features", "leadml/model", "leadml/data", "leadml/cli"):
        _write(src, f"{package}/__init__.py", "")
    _write(src, "leadml/scoring.py", "")
    _write(src, "leadml/data/io.py", "")
    _write(src, "leadml/data/mapping/__init__.py", "")
    _write(src, "leadml/data/mapping/config.py", "")
    _write(src, "leadml/features/family.py", "import numpy as np\nimport mlflow\n")
    _write(
        src,
        "leadml/model/fit.py",
        "def f():\n    from ..data import io\n    from sqlalchemy.orm import Session\n"
        "from leadml.data.mapping.config import DatasetConfig\n",  # the pure half: allowed
    )
    _write(src, "leadml/cycle_a.py", "from leadml import cycle_b\n")
    _write(src, "leadml/cycle_b.py", "def later():\n    import leadml.cycle_a\n")
    _write(src, "leadml/uses_serve.py", "def f():\n    from leadml_serve.app import x\n")
    _write(serve, "leadml_serve/__init__.py", "")
    _write(serve, "leadml_serve/cli.py", "from leadml.cli import app\n")
    _write(
        serve,
        "leadml_serve/app.py",
        "from leadml import __version__, scoring\nfrom leadml.features.spec import x\n"
        "from leadml.cli import app\n",
    )
    return [(src, "leadml"), (serve, "leadml_serve")]


def test_checker_catches_a_feature_module_importing_mlflow(tmp_path: Path) -> None:
    problems = pure_violations(all_imports(_fake_tree(tmp_path)))
    assert len(problems) == 3, problems
    family, io, sql = problems
    assert "features/family.py:2: leadml.features.family imports mlflow" in family
    # Relative imports inside functions are resolved: `from ..data import io`.
    assert "model/fit.py:2: leadml.model.fit imports leadml.data.io" in io
    assert "model/fit.py:3: leadml.model.fit imports sqlalchemy.orm.Session" in sql


def _fake_transitive_tree(tmp_path: Path) -> list[tuple[Path, str]]:
    """The fake tree plus pure code reaching I/O only through other modules of ours."""
    packages = _fake_tree(tmp_path)
    src = tmp_path / "src"
    _write(src, "leadml/tracking/__init__.py", "")
    # Two imports of mlflow in one module: one message, at the first.
    _write(src, "leadml/tracking/log.py", "import numpy\nimport mlflow.pyfunc\nimport mlflow\n")
    # model/ -> promotion (allowed by the direct check) -> tracking.log -> mlflow
    _write(src, "leadml/promotion.py", "def gate():\n    from .tracking import log\n")
    _write(src, "leadml/model/gate.py", "def f():\n    from leadml import promotion\n")
    # features/ -> the mapping's config (allowed) runs data/mapping/__init__, which imports
    # the reader; the reader imports dask.
    _write(src, "leadml/data/mapping/__init__.py", "from leadml.data.mapping import read\n")
    _write(src, "leadml/data/mapping/read.py", "import dask.dataframe\n")
    _write(src, "leadml/features/flat.py", "from leadml.data.mapping.config import X\n")
    # Reaching plain modules (scoring: numpy only) is fine.
    _write(src, "leadml/model/assess.py", "from leadml import scoring\n")
    return packages


def _relative(problems: list[str], tmp_path: Path) -> list[str]:
    return [problem.replace(f"{tmp_path}/", "") for problem in problems]


def test_checker_catches_pure_code_reaching_io_through_our_modules(tmp_path: Path) -> None:
    found = all_imports(_fake_transitive_tree(tmp_path))
    # The direct check passes both chains; only the fake tree's direct violations remain.
    assert len(pure_violations(found)) == 3
    # One message per offending import, from the pure module's import along the chain.
    assert _relative(transitive_pure_violations(found), tmp_path) == [
        "src/leadml/features/flat.py:1: leadml.features.flat -> leadml.data.mapping [package] "
        "imports leadml.data.mapping.read at src/leadml/data/mapping/__init__.py:1 "
        "(leadml.data.mapping.read reads files or runs jobs)",
        "src/leadml/features/flat.py:1: leadml.features.flat -> leadml.data.mapping [package] "
        "-> leadml.data.mapping.read imports dask.dataframe at "
        "src/leadml/data/mapping/read.py:1 (dask is I/O)",
        "src/leadml/model/gate.py:2: leadml.model.gate -> leadml.promotion imports "
        "leadml.tracking.log at src/leadml/promotion.py:2 "
        "(leadml.tracking.log reads files or runs jobs)",
        "src/leadml/model/gate.py:2: leadml.model.gate -> leadml.promotion -> "
        "leadml.tracking.log imports mlflow.pyfunc at src/leadml/tracking/log.py:2 "
        "(mlflow is I/O)",
    ]


def test_checker_follows_the_shortest_chain_past_cycles(tmp_path: Path) -> None:
    packages = _fake_transitive_tree(tmp_path)
    src = tmp_path / "src"
    # A longer route to mlflow with a cycle on it: the report keeps the short chain.
    _write(src, "leadml/relay.py", "import leadml.relay_back\n")
    _write(src, "leadml/relay_back.py", "import leadml.relay\nimport leadml.tracking.log\n")
    _write(src, "leadml/model/far.py", "from leadml import relay\n")

    def mlflow_chains() -> list[str]:
        problems = transitive_pure_violations(all_imports(packages))
        return [p for p in _relative(problems, tmp_path) if "mlflow" in p]

    assert mlflow_chains() == [
        "src/leadml/model/gate.py:2: leadml.model.gate -> leadml.promotion -> "
        "leadml.tracking.log imports mlflow.pyfunc at src/leadml/tracking/log.py:2 "
        "(mlflow is I/O)"
    ]
    # Without the short route, the long one is reported.
    _write(src, "leadml/promotion.py", "")
    assert mlflow_chains() == [
        "src/leadml/model/far.py:1: leadml.model.far -> leadml.relay -> leadml.relay_back -> "
        "leadml.tracking.log imports mlflow.pyfunc at src/leadml/tracking/log.py:2 "
        "(mlflow is I/O)"
    ]


def test_checker_counts_the_package_inits_above_a_pure_module(tmp_path: Path) -> None:
    packages = _fake_tree(tmp_path)
    _write(tmp_path / "src", "leadml/__init__.py", "def f():\n    import fastapi\n")
    problems = _relative(transitive_pure_violations(all_imports(packages)), tmp_path)
    assert problems == [
        "leadml.features.family -> leadml [package] imports fastapi at src/leadml/__init__.py:2 "
        "(fastapi is I/O)"
    ]


def test_checker_catches_an_import_cycle_through_a_function(tmp_path: Path) -> None:
    problems = cycle_violations(all_imports(_fake_tree(tmp_path)))
    assert len(problems) == 1, problems
    assert problems[0].startswith("import cycle among leadml.cycle_a, leadml.cycle_b:")
    assert "cycle_a.py:1: leadml.cycle_a -> leadml.cycle_b" in problems[0]
    assert "cycle_b.py:2: leadml.cycle_b -> leadml.cycle_a" in problems[0]


def test_checker_catches_serve_wall_breaks(tmp_path: Path) -> None:
    problems = serve_import_violations(all_imports(_fake_tree(tmp_path)))
    assert len(problems) == 3, problems
    joined = "\n".join(problems)
    assert "uses_serve.py:2: leadml.uses_serve imports leadml_serve.app.x" in joined
    assert "app.py:2: leadml_serve.app imports leadml.features.spec.x" in joined
    # leadml.cli is allowed in the composition root only.
    assert "app.py:3: leadml_serve.app imports leadml.cli.app" in joined
    assert "leadml_serve/cli.py" not in joined


def test_checker_catches_dask_outside_the_engine(tmp_path: Path) -> None:
    packages = _fake_tree(tmp_path)
    src = tmp_path / "src"
    _write(src, "leadml/engine/__init__.py", "")
    _write(src, "leadml/engine/score.py", "import dask.dataframe as dd\nimport distributed\n")
    _write(src, "leadml/jobs/__init__.py", "")
    _write(
        src,
        "leadml/jobs/score.py",
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from leadml.engine.score import x\n"  # never runs: fine
        "def run(engine):\n    if engine == 'dask':\n        from leadml.engine import score\n"
        "from leadml.engine.score import y\n",  # runs on import: loads dask
    )
    _write(src, "leadml/jobs/train.py", "class Job:\n    from dask import delayed\n")
    _write(
        src, "leadml/monitor.py", "try:\n    import distributed\nexcept ImportError:\n    pass\n"
    )
    problems = _relative(dask_violations(all_imports(packages)), tmp_path)
    assert problems == [
        "src/leadml/jobs/score.py:7: leadml.jobs.score imports leadml.engine.score when it is "
        "imported (the local engine would load Dask: import leadml.engine inside the function "
        "that chose the Dask engine)",
        "src/leadml/jobs/train.py:2: leadml.jobs.train imports dask.delayed (dask belongs in "
        "leadml.engine: call the engine from the job that chose it)",
        "src/leadml/monitor.py:2: leadml.monitor imports distributed (distributed belongs in "
        "leadml.engine: call the engine from the job that chose it)",
    ]


def test_strongly_connected_finds_every_cycle_and_only_cycles() -> None:
    edges = {"a": "b", "b": "c", "c": "a", "d": "e", "e": "d", "f": "a"}
    stub = Import("x", ROOT, 1, "x", None)
    graph = {source: {target: stub} for source, target in edges.items()}
    assert strongly_connected(graph) == [["a", "b", "c"], ["d", "e"]]
