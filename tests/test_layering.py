"""The core package never imports Streamlit: only aeviz/ui/ may (AST walk + a fresh interpreter)."""
import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "aeviz"
UI = PACKAGE / "ui"


def _imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in \
                ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            roots.add(str(node.args[0].value).split(".")[0])
    return roots


def test_no_core_module_imports_streamlit():
    core = [p for p in PACKAGE.rglob("*.py") if UI not in p.parents]
    assert len(core) > 10                                   # the walk really sees the package
    offenders = [str(p.relative_to(PACKAGE)) for p in core
                 if "streamlit" in _imported_roots(ast.parse(p.read_text(encoding="utf-8")))]
    assert offenders == [], f"core modules importing streamlit: {offenders}"


def test_the_ast_walk_would_catch_each_import_form():
    for src in ("import streamlit as st", "from streamlit import session_state",
                "import streamlit.components.v1", "def f():\n    import streamlit",
                "importlib.import_module('streamlit')"):
        assert "streamlit" in _imported_roots(ast.parse(src)), src
    assert "streamlit" not in _imported_roots(ast.parse("from .ui import streamlit_helpers"))


def test_importing_the_core_does_not_load_streamlit():
    core = sorted(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
                  for p in PACKAGE.rglob("*.py") if UI not in p.parents and p.stem != "__main__")
    code = ("import sys\n" + "".join(f"import {m}\n" for m in core) +
            "import aeviz\nprint('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
