"""User text is shown as plain text: the escaping itself, the app end to end, and every call site."""
import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as hs
from streamlit.testing.v1 import AppTest

from aeviz.ui import state
from aeviz.ui.text import md, plain

REPO = Path(__file__).resolve().parents[2]
HOSTILE = ["[x](http://e)", "![i](http://e)", ":red[x]", "$x$", "<b>", "**bold** _it_ `code`",
           "<http://e>", "www.evil.com", "mail@evil.com", ":material/home: :smile:", "a | b", "# h",
           "&lt;", "\\[x](http://e)", "~~s~~", "x\n\n# heading\n[y](http://e)"]
SPECIAL = set("\\`*_~[]()!<>#|&@:$")


def _unescaped(text: str) -> list[str]:
    """Special characters not preceded by an escaping backslash (what Markdown would act on)."""
    bare, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 2                                 # an escape pair: the next character is literal
            continue
        if text[i] in SPECIAL:
            bare.append(text[i])
        i += 1
    return bare


def _rendered(text: str) -> str:
    """What CommonMark shows for an escaped text: each backslash pair becomes its character."""
    return re.sub(r"\\(.)", r"\1", text)


@pytest.mark.parametrize("text", HOSTILE)
def test_markup_in_user_text_is_inert_and_shows_as_typed(text):
    out = plain(text)
    assert _unescaped(out) == []
    assert "](" not in out.replace("\\]\\(", "") and "http://" not in out and "www." not in out
    assert "\n" not in out and _rendered(out) == " ".join(text.splitlines())


def test_the_named_payloads_are_escaped_exactly():
    assert plain("[x](http://e)") == r"\[x\]\(http\://e\)"
    assert plain("![i](http://e)") == r"\!\[i\]\(http\://e\)"
    assert plain(":red[x]") == r"\:red\[x\]"
    assert plain("$x$") == r"\$x\$"
    assert plain("<b>") == r"\<b\>"
    assert plain("at t = 0.50, digits-vae-2") == "at t = 0.50, digits-vae-2"     # harmless text unchanged


def test_md_fills_a_trusted_template_with_plain_parts_and_keeps_number_formats():
    out = md("**{}** has {:,} rows, {:.1%} kept", "[a](http://e)", 12000, 0.5)
    assert out == r"**\[a\]\(http\://e\)** has 12,000 rows, 50.0% kept"


@given(hs.text(max_size=60))
def test_any_text_is_escaped_and_reads_back(text):
    out = plain(text)
    assert _unescaped(out) == [] and "\n" not in out and "\r" not in out
    assert _rendered(out) == " ".join(text.splitlines())


# --- the app, end to end --------------------------------------------------------------

def test_a_link_value_is_echoed_as_plain_text_in_the_warning():
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state[state.COMPARE_MODELS] = ["pca:digits-2"]
    at.query_params["models"] = "user:[Session expired - click to log in](http://evil.example)"
    at.query_params["proj"] = "![i](http://evil.example/x.png)"
    at.run()
    assert not at.exception, at.exception
    shown = [w.value for w in at.warning]
    assert len(shown) == 2 and all("Ignored the link" in w for w in shown)
    for value in shown:                            # the whole message is plain text: nothing is markup
        assert _unescaped(value) == [] and "](" not in value and "http://" not in value, value
    assert "Session expired" in shown[0] and "evil.example/x.png" in shown[1]


# --- every call site -------------------------------------------------------------------

RENDERS_MARKDOWN = {"warning", "error", "info", "success", "caption", "markdown", "toast",
                    "title", "header", "subheader"}
HELPERS = {"plain", "md"}
# Files exempted from the walk: none (a file may be listed only while it is being converted).
PENDING: set[str] = set()
# (file, function, parameter): text that only aeviz's own code passes (page titles and intros).
DEVELOPER_TEXT = {("aeviz/ui/widgets.py", "page", "title"), ("aeviz/ui/widgets.py", "page", "intro")}


def _sources() -> list[Path]:
    files = [REPO / "app.py", *sorted((REPO / "aeviz" / "ui").rglob("*.py"))]
    assert len(files) > 10
    return [f for f in files if f.relative_to(REPO).as_posix() not in PENDING]


def _is_helper(node: ast.AST) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return name in HELPERS


def _safe(node: ast.AST, params: set[str]) -> bool:
    """A literal, a module CONSTANT, a helper call (with a literal template), or + / if-else of those."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Name):
        return node.id.isupper() or node.id in params
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _safe(node.left, params) and _safe(node.right, params)
    if isinstance(node, ast.IfExp):
        return _safe(node.body, params) and _safe(node.orelse, params)
    if isinstance(node, ast.Call) and _is_helper(node):
        name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        return name == "plain" or bool(node.args) and _safe(node.args[0], set())   # md's template
    return False


class _Calls(ast.NodeVisitor):
    def __init__(self, rel: str):
        self.rel, self.params, self.bad = rel, set(), []

    def visit_FunctionDef(self, node):
        outer = self.params
        self.params = outer | {a.arg for a in node.args.args if (self.rel, node.name, a.arg) in DEVELOPER_TEXT}
        self.generic_visit(node)
        self.params = outer

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in RENDERS_MARKDOWN:
            shown = node.args[:1] + [k.value for k in node.keywords if k.arg == "body"]
            self.bad += [f"{self.rel}:{node.lineno}: {func.attr}({ast.unparse(a)[:60]})"
                         for a in shown if not _safe(a, self.params)]
        if _is_helper(node) and not _safe(node, set()):
            self.bad.append(f"{self.rel}:{node.lineno}: md template {ast.unparse(node.args[0])[:60]}")
        self.generic_visit(node)


def _violations(path: Path) -> list[str]:
    calls = _Calls(path.relative_to(REPO).as_posix())
    calls.visit(ast.parse(path.read_text()))
    return calls.bad


def test_every_markdown_call_gets_only_literals_or_escaped_text():
    bad = [v for f in _sources() for v in _violations(f)]
    assert bad == [], ("Streamlit renders these as Markdown: wrap user text in aeviz.ui.text.plain "
                       "or fill an md(template, ...) instead of an f-string: " + "; ".join(bad))


def test_the_walk_catches_an_f_string_a_variable_and_an_unsafe_template():
    src = ("def f(x, title):\n    st.warning(f'bad {x}')\n    col.caption(x)\n    st.info(md(x))\n"
           "    st.error(plain(f'{x}'))\n    st.caption('ok ' + md('{}', x))\n")
    calls = _Calls("aeviz/ui/probe.py")
    calls.visit(ast.parse(src))
    assert [b.split(":")[1] for b in calls.bad] == ["2", "3", "4", "4"]        # md(x): call and template
