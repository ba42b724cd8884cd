"""Report tables are pure functions of metric dicts."""
import json
import re
import math

import pytest

from aeviz.metrics.report import (LATENT, RECONSTRUCTION, Column, best_rows, compare_json, compare_markdown,
                          format_value, markdown_table, reference_row)

AE = {"family": "ae", "latent_dim": 16, "n": 100, "sse_per_image": 7.5, "mse_per_pixel": 0.0096,
      "knn_acc_1": 0.95, "prior_confidence": 0.61, "fitted_confidence": 0.8,
      "real_confidence": 0.99, "real_confident_share": 0.97}
VAE = {"family": "vae", "latent_dim": 16, "n": 100, "sse_per_image": 11.25, "mse_per_pixel": 0.0143,
       "neg_elbo": 101.0, "kl": 25.0, "knn_acc_1": 0.96, "prior_confidence": 0.9,
       "real_confidence": 0.99, "real_confident_share": 0.97}


@pytest.mark.parametrize("value, digits, text", [
    (None, 3, "–"), (True, 3, "yes"), (3, 2, "3"), (1.23456, 2, "1.23"), (2.0, 0, "2"),
    (float("nan"), 3, "–"), (float("inf"), 1, "–"), ("a|b", 3, "a\\|b")])
def test_format_value(value, digits, text):
    assert format_value(value, digits) == text


def _rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]


def test_table_has_a_row_per_model_and_bolds_the_best():
    cols = (Column("family", "family", text=True), Column("sse_per_image", "SSE", 2, "low"),
            Column("knn_acc_1", "1-NN", 2, "high"), Column("iwae_nll", "IWAE", 2, "low"))
    rows = _rows(markdown_table(["a", "b"], [AE, VAE], cols))
    assert rows[0] == ["model", "family", "SSE", "1-NN"]              # empty IWAE column dropped
    assert rows[1] == ["---", "---", "---:", "---:"]
    assert rows[2] == ["a", "ae", "**7.50**", "0.95"]
    assert rows[3] == ["b", "vae", "11.25", "**0.96**"]


def test_best_rows_compares_values_as_shown():
    col = Column("x", "x", 2, "low")
    assert best_rows([{"x": 1.001}, {"x": 1.004}, {"x": 2.0}], col) == {0, 1}   # both show 1.00
    assert best_rows([{"x": 1.0}], col) == set()                   # nothing to beat
    assert best_rows([{"x": 1.0}, {"x": 0.5}], Column("x", "x")) == set()   # no direction


def test_reference_row_holds_the_judge_on_real_images():
    ref = reference_row(AE)
    assert ref == {"prior_confidence": 0.99, "prior_confident_share": 0.97, "fitted_confidence": 0.99}
    assert reference_row({"sse_per_image": 1.0}) == {}
    table = markdown_table(["a"], [AE], LATENT, extra={"real test images": ref})
    assert _rows(table)[-1][0] == "*real test images*"


def test_mismatched_names_are_refused():
    with pytest.raises(ValueError, match="names"):
        markdown_table(["a"], [AE, VAE], RECONSTRUCTION)


def test_compare_markdown_has_both_tables_and_notes():
    md = compare_markdown(["ae", "vae"], [AE, VAE], dataset="mnist", command="python -m aeviz compare x y")
    assert md.startswith("# Model comparison on mnist (test split, n=100)")
    assert "## Reconstruction and likelihood" in md and "## Latent space" in md
    assert "*real test images*" in md and "`python -m aeviz compare x y`" in md
    assert "Hinton & Salakhutdinov" in md


def test_compare_json_is_json_safe():
    rows = [dict(AE, kl=float("nan")), VAE]
    report = compare_json(["ae", "vae"], ["/m/ae", "/m/vae"], rows, dataset="mnist")
    text = json.dumps(report, allow_nan=False)
    back = json.loads(text)
    assert back["models"][0]["metrics"]["kl"] is None
    assert back["models"][1]["metrics"]["neg_elbo"] == 101.0
    assert back["reference"]["real test images"]["prior_confidence"] == 0.99
    assert not any(isinstance(v, float) and math.isnan(v) for v in back["models"][0]["metrics"].values())


# --- hostile names: every cell stays one literal cell ---------------------------------------

HOSTILE_NAMES = ["a\\|b", "two\nlines", "cr\rlf\r\n", "sep\u2028line\x85",
                 "[click](http://evil.example)", "![img](http://evil.example/x.png)",
                 "<script>alert(1)</script>", "<http://evil.example>", "&lt;b&gt;", "`code`",
                 "**bold** _em_ ~~gone~~", "$x^2$"]
SPECIAL = set("\\`*_~[]<>|&$")


def _cells(line: str) -> list[str]:
    """Split a table row on its pipes, skipping backslash escapes (``\\|`` is text)."""
    cells, cell = [], ""
    for token in re.findall(r"\\.|[^\\|]+|\||\\", line.strip(), re.S):
        if token == "|":
            cells, cell = cells + [cell], ""
        else:
            cell += token
    return [c.strip() for c in cells[1:]]


def _literal(cell: str) -> str:
    """What CommonMark shows for a cell; no special character may be left unescaped."""
    tokens = re.findall(r"\\.|.", cell, re.S)
    assert not [t for t in tokens if t in SPECIAL], cell
    return "".join(t[-1] for t in tokens)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_model_name_is_one_literal_cell(name):
    cols = (Column("family", "family", text=True), Column("sse_per_image", "SSE", 2, "low"))
    table = markdown_table([name, "b"], [dict(AE, family=name), VAE], cols)
    lines = table.split("\n")
    assert len(lines) == 4 and len(table.splitlines()) == 4           # header, rule, 2 rows
    cells = _cells(lines[2])
    assert len(cells) == 3
    shown = " ".join(name.splitlines()).strip()
    assert _literal(cells[0]) == shown and _literal(cells[1]) == shown


def test_hostile_dataset_and_command_stay_literal():
    md = compare_markdown(["a"], [AE], dataset="[d](http://x)\n# pwned",
                          command="python -m aeviz compare `rm -rf ~`\n``x``")
    lines = md.split("\n")
    assert lines[0] == "# Model comparison on \\[d\\]\\(http\\://x\\) \\# pwned (test split, n=100)"
    assert lines[2] == "``` python -m aeviz compare `rm -rf ~` ``x`` ```"      # fence of 3 > 2
    assert not any(line.startswith("# pwned") for line in lines)
