"""The shape of the house: imports point down, no circles, every module imports alone.

The layers (docs/architecture.md), top to bottom::

    cli, demo                     commands
    collections, catalog, batch   many series at once
    series                        the array type
    loadsave                      the one door: path or URL -> plugin -> (array, Header)
    formats, transports           plugins and movers
    header, geometry, axis, ...   the model and the ground floor

Every ``import`` statement counts, also those inside functions and under
``TYPE_CHECKING``: a lazy import that points up is still a dependency upwards.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "imagedata"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _imports(name: str) -> Iterator[str]:
    """The imagedata modules that module `name` imports (resolved to known modules)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            targets = subs if len(subs) == len(node.names) else [base, *subs]
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name and t.startswith("imagedata"):
                yield t


GRAPH = {name: sorted(set(_imports(name))) for name in MODULES}


def _top(name: str) -> str:
    """The first component below ``imagedata`` ('' for the package itself)."""
    return name.split(".")[1] if "." in name else ""


def _layer(name: str) -> int:
    """A module's floor (higher imports lower; equal floors may import each other)."""
    top = _top(name)
    floors = {
        "cli": 6,
        "demo": 6,
        "__main__": 6,
        "collections": 5,
        "collection": 5,
        "catalog": 5,
        "_catalog_scan": 5,  # the catalogue's header pass, run by worker processes
        "batch": 5,
        "cmdline": 5,
        "series": 4,
        "_compat3": 4,  # the 3.x options and API bodies series.py delegates to
        "_series3": 4,
        "processing": 4,  # beside viewer: RGB series, masks, alignment
        "viewer": 4,
        "_viewer_window": 4,
        "_html": 4,
        "_curves": 4,
        "_widget": 4,
        "loadsave": 3,
        "formats": 2,
        "transports": 2,
    }
    return floors.get(top, 1)


def test_no_import_points_up() -> None:
    """The package itself (``__version__``, lazy top-level names) is outside the floors."""
    upward = [
        f"{name} (floor {_layer(name)}) imports {dep} (floor {_layer(dep)})"
        for name, deps in GRAPH.items()
        for dep in deps
        if _layer(dep) > _layer(name) and "imagedata" not in (name, dep)
    ]
    assert upward == []


def test_formats_and_transports_never_meet() -> None:
    """Transports only move files: they never import a format plugin, and the reverse."""
    crossing = [
        f"{name} imports {dep}"
        for name, deps in GRAPH.items()
        for dep in deps
        if {_top(name), _top(dep)} == {"formats", "transports"}
    ]
    assert crossing == []


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return found


def _parent_edge(name: str, dep: str) -> bool:
    """A package importing its own submodule (``__init__`` re-exports) is not a circle."""
    return dep.startswith(name + ".") or name.startswith(dep + ".")


def test_no_import_circles() -> None:
    saved = {k: list(v) for k, v in GRAPH.items()}
    try:
        for name in GRAPH:
            GRAPH[name] = [d for d in GRAPH[name] if not _parent_edge(name, d)]
        assert _cycles() == []
    finally:
        GRAPH.update(saved)


def test_the_graph_sees_lazy_imports() -> None:
    """The checker itself: a function-level import is an edge (series -> loadsave)."""
    assert "imagedata.loadsave" in GRAPH["imagedata.series"]
    assert "imagedata.formats" in GRAPH["imagedata.loadsave"]


def _import_alone(name: str) -> str | None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {name}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=SRC.parent,
    )
    return None if result.returncode == 0 else f"{name}: {result.stderr.strip()[-600:]}"


def test_every_module_imports_alone() -> None:
    """Each module imports in a fresh interpreter (no order-dependent circles).

    ``imagedata.__main__`` is the ``python -m imagedata`` script and is left out.
    """
    names = sorted(n for n in MODULES if n != "imagedata.__main__")
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [f for f in pool.map(_import_alone, names) if f is not None]
    assert failures == []
