"""The architecture, enforced: which subpackage may import which, no cycles, Streamlit only in ui.

The walk is recursive over every module of aeviz (a flat glob would silently
shrink after a move) and counts imports anywhere in a module, lazy ones inside
functions included: a late import is still a dependency.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aeviz"

# subpackage -> the subpackages it may import (besides itself). Foundations first:
# core <- data <- models <- training; latent <- maps; render stands on core alone.
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "models": {"core", "data"},
    "training": {"core", "data", "models"},
    "latent": {"core"},
    "maps": {"core", "latent"},
    "render": {"core"},
    "metrics": {"core", "data", "models", "latent", "maps"},
    "zoo": {"core", "data", "models", "training", "latent", "maps", "metrics"},
    "cli": {"core", "data", "models", "training", "latent", "maps", "metrics", "render", "zoo"},
    "ui": {"core", "data", "models", "training", "latent", "maps", "metrics", "render", "zoo"},
    "__main__": {"cli"},
    "__init__": set(),
}
MIN_MODULES = 60                        # the walk really sees the package


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(tree: ast.AST, known=MODULES) -> set[str]:
    """Every module this code imports (absolute names; ``from a import b`` -> a.b if b is a module)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, "aeviz uses absolute imports only"
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in \
                ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            out.add(str(node.args[0].value))
    return out


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def violations(sources: dict[str, str]) -> list[str]:
    """'a -> b' for every import that breaks ALLOWED, streamlit outside ui, or an unknown layer."""
    bad = []
    for name, source in sources.items():
        own = layer(name)
        if own not in ALLOWED:
            bad.append(f"{name}: subpackage {own!r} has no row in ALLOWED; add it")
            continue
        for target in sorted(imports(ast.parse(source))):
            root = target.split(".")[0]
            if root == "streamlit" and own != "ui":
                bad.append(f"{name} -> streamlit (only aeviz.ui may)")
            elif root == "aeviz" and target != "aeviz" and layer(target) not in ALLOWED[own] | {own}:
                bad.append(f"{name} -> {target}")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative-safe sizes)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _sources() -> dict[str, str]:
    return {name: p.read_text(encoding="utf-8") for name, p in MODULES.items()}


def test_the_walk_sees_every_subpackage():
    assert len(MODULES) >= MIN_MODULES
    packages = {layer(m) for m in MODULES}
    assert packages == set(ALLOWED), f"subpackages without a rule or rules without one: {packages ^ set(ALLOWED)}"
    for pkg in packages - {"__init__", "__main__"}:
        doc = ast.get_docstring(ast.parse((PACKAGE / pkg / "__init__.py").read_text()))
        assert doc and doc.splitlines()[0].endswith("."), f"aeviz/{pkg}/__init__.py needs a one-line summary"


def test_every_import_follows_the_layers():
    assert violations(_sources()) == []


def test_no_import_cycle_anywhere():
    sources = _sources()
    graph = {name: {t for t in imports(ast.parse(src)) if t in MODULES} for name, src in sources.items()}
    assert sum(map(len, graph.values())) > 100                  # the graph is really built
    assert cycles(graph) == []


@pytest.mark.parametrize("module, source, why", [
    ("aeviz.maps.store", "from aeviz.models.checkpoint import load_checkpoint", "aeviz.models"),
    ("aeviz.latent.paths", "def f():\n    import aeviz.maps.inverse", "aeviz.maps"),        # lazy import
    ("aeviz.data.idx", "from aeviz.training import loop", "aeviz.training"),
    ("aeviz.render.figures", "import streamlit as st", "streamlit"),
    ("aeviz.metrics.codes", "importlib.import_module('streamlit')", "streamlit"),
    ("aeviz.core.paths", "from aeviz.ui import state", "aeviz.ui"),
    ("aeviz.newpkg.thing", "import numpy", "ALLOWED"),
])
def test_a_deliberately_bad_import_is_caught(module, source, why):
    assert any(why in v for v in violations({module: source})), why


def test_a_deliberate_cycle_is_caught():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_importing_the_core_does_not_load_streamlit():
    core = sorted(m for m in MODULES if layer(m) not in ("ui", "__main__"))
    code = "import sys\n" + "".join(f"import {m}\n" for m in core) + "print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
