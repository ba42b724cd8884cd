"""Comparison reports: metric dicts from ``evaluate`` in, Markdown and JSON out.

Pure functions, no I/O: the compare CLI and the app build the same tables.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from aeviz.core import limits, reading
from aeviz.core.errors import AevizError
from aeviz.core.files import json_safe
from aeviz.core.text import markdown_literal


@dataclass(frozen=True)
class Column:
    key: str             # metric name in evaluate()'s dict
    header: str
    digits: int = 3      # decimals shown
    better: str = ""     # "low" | "high" | "" : marks the best model's cell in bold
    text: bool = False   # left-aligned text column


RECONSTRUCTION = (
    Column("family", "family", text=True), Column("latent_dim", "D", 0),
    Column("sse_per_image", "SSE / image", 2, "low"), Column("mse_per_pixel", "MSE / pixel", 4, "low"),
    Column("recon_nll", "recon NLL", 2, "low"), Column("neg_elbo", "-ELBO", 2, "low"),
    Column("kl", "KL", 2), Column("iwae_nll", "IWAE NLL", 2, "low"),
    Column("active_units", "active units", 0),
)
LATENT = (
    Column("knn_acc_1", "1-NN acc", 4, "high"), Column("knn_acc_5", "5-NN acc", 4, "high"),
    Column("map_knn_acc_1", "2-D map 1-NN", 4, "high"),
    Column("map_trustworthiness", "2-D map trust.", 3, "high"),
    Column("prior_confidence", "N(0,I) sample conf.", 3, "high"),
    Column("prior_confident_share", "N(0,I) conf>0.9", 3, "high"),
    Column("fitted_confidence", "fitted-Gauss conf.", 3, "high"),
    Column("interp_path_ratio", "interp. path ratio", 3, "low"),
    Column("interp_off_manifold_share", "interp. off-data", 3, "low"),
)
TABLES = {"Reconstruction and likelihood": RECONSTRUCTION, "Latent space": LATENT}
MISSING = "–"


def format_value(value: Any, digits: int = 3) -> str:
    """A table cell: numbers rounded, bools as yes/no, absent or non-finite as a dash."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return MISSING
        return f"{value:.{digits}f}" if digits else f"{value:.0f}"
    return markdown_text(str(value))


def markdown_text(text: str) -> str:
    """``text`` as one line of literal Markdown inline text (a table cell, a heading): the
    app's rule too (``core.text.markdown_literal``). A model called ``[x](http://evil)``
    or ``<script>`` shows as exactly that text, never as a link or HTML."""
    return markdown_literal(text)


def code_span(text: str) -> str:
    """``text`` as one Markdown code span: fenced with more backticks than it holds in a row,
    so a backtick in a path cannot end the span early (CommonMark 6.1)."""
    flat = " ".join(text.splitlines())
    longest = max((len(run) for run in re.findall("`+", flat)), default=0)
    fence = "`" * (longest + 1)
    # the spaces keep a leading or trailing backtick off the fence; CommonMark strips them
    return f"{fence} {flat} {fence}" if longest else f"{fence}{flat}{fence}"


def reference_row(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The judge's scores on real test images, placed in the sample-score columns."""
    keys = {"prior_confidence": "real_confidence", "prior_confident_share": "real_confident_share",
            "fitted_confidence": "real_confidence"}
    return {k: metrics[src] for k, src in keys.items() if src in metrics}


def best_rows(rows: Sequence[Mapping[str, Any]], column: Column) -> set[int]:
    """Indices of the rows holding the best value of ``column`` as shown (rounded); empty if
    the column has no direction or fewer than two values."""
    values = [(i, r.get(column.key)) for i, r in enumerate(rows)]
    values = [(i, round(v, column.digits)) for i, v in values if isinstance(v, (int, float))
              and not isinstance(v, bool) and math.isfinite(v)]
    if not column.better or len(values) < 2:
        return set()
    pick = min if column.better == "low" else max
    best = pick(v for _, v in values)
    return {i for i, v in values if v == best}


def markdown_table(names: Sequence[str], rows: Sequence[Mapping[str, Any]],
                   columns: Sequence[Column], *, extra: Mapping[str, Mapping[str, Any]] | None = None,
                   drop_empty: bool = True) -> str:
    """One Markdown table: a row per model (best cell bold), then ``extra`` rows in italics.

    Columns no row has a value for are dropped when ``drop_empty``.
    """
    if len(names) != len(rows):
        raise ValueError(f"got {len(names)} names for {len(rows)} rows")
    extra = dict(extra or {})
    everything = list(rows) + list(extra.values())
    cols = [c for c in columns if not drop_empty or any(c.key in r for r in everything)]
    lines = ["| model | " + " | ".join(c.header for c in cols) + " |",
             "|---|" + "|".join("---" if c.text else "---:" for c in cols) + "|"]
    best = {c.key: best_rows(rows, c) for c in cols}
    for i, (name, row) in enumerate(zip(names, rows)):
        cells = [format_value(row.get(c.key), c.digits) for c in cols]
        cells = [f"**{v}**" if i in best[c.key] else v for v, c in zip(cells, cols)]
        lines.append(f"| {format_value(name)} | " + " | ".join(cells) + " |")
    for name, row in extra.items():
        cells = [format_value(row.get(c.key), c.digits) if c.key in row else "" for c in cols]
        lines.append(f"| *{format_value(name)}* | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_markdown(names: Sequence[str], rows: Sequence[Mapping[str, Any]], *, dataset: str,
                     split: str = "test", command: str = "", notes: Sequence[str] = ()) -> str:
    """The full report: a heading, one table per metric group, protocol notes."""
    ref = next((reference_row(r) for r in rows if "real_confidence" in r), {})
    n = next((r.get("n") for r in rows if "n" in r), None)
    parts = [f"# Model comparison on {markdown_text(dataset)} ({markdown_text(split)} split"
             + (f", n={n})" if n else ")")]
    if command:
        parts.append(code_span(command))
    for title, cols in TABLES.items():
        extra = {"real test images": ref} if ref and cols is LATENT else None
        parts += [f"## {title}", markdown_table(names, rows, cols, extra=extra)]
    parts.append("\n".join(["Notes:", *[f"- {note}" for note in (*PROTOCOL, *notes)]]))
    return "\n\n".join(parts) + "\n"


def compare_json(names: Sequence[str], paths: Sequence[str], rows: Sequence[Mapping[str, Any]], *,
                 dataset: str, split: str = "test", command: str = "") -> dict[str, Any]:
    """JSON-safe report: every metric of every model (non-finite numbers become None)."""
    ref = next((reference_row(r) for r in rows if "real_confidence" in r), {})
    return {"dataset": dataset, "split": split, "command": command,
            "models": [{"name": n, "path": p, "metrics": json_safe(r)}
                       for n, p, r in zip(names, paths, rows)],
            "reference": {"real test images": ref}}


PROTOCOL = (
    "SSE / image: sum of squared pixel errors per test image, pixels in [0, 1], reconstruction "
    "from the deterministic code (a VAE's posterior mean; PCA unclipped), as in Hinton & "
    "Salakhutdinov (2006).",
    "-ELBO and KL: nats per image, one seeded posterior sample per image, analytic KL. "
    "IWAE NLL: importance-weighted bound (Burda et al. 2016) with the stated k.",
    "Active units: code dimensions whose variance over the test set of E_q[z] exceeds 0.01.",
    "k-NN accuracy: classifier fitted on train-split codes, scored on test codes (Sainburg et al. "
    "2021); the 2-D map is the code itself when 2-D, else PCA of the codes.",
    "Sample confidence: mean max-softmax of a small MLP judge trained on the train split, over "
    "1,000 decoded codes drawn from N(0, I), or from a Gaussian fitted to the train codes "
    "(deterministic models); the last row is the judge on real test images.",
    "Interpolation: decoded linear paths between 100 seeded test pairs (16 steps); path ratio = "
    "pixel-space path length / straight distance between the decoded endpoints; off-data = share "
    "of path codes farther from any train code than 95% of train codes are from their nearest.",
)


# --- recognising our own reports (``compare --out`` replaces only these) -------------------

_REPORT_KEYS = {"dataset", "split", "command", "models", "reference"}
_MARKDOWN_HEAD = "# Model comparison on "


def is_report_json(path) -> bool:
    """True if ``path`` holds a JSON report ``compare_json`` wrote (core.reading; any fault = no)."""
    try:
        data = reading.read_json(path, root=Path(path).parent, max_bytes=limits.REPORT_MAX_BYTES,
                                 what="report", kind=dict)
    except AevizError:
        return False
    return set(data) == _REPORT_KEYS and isinstance(data["models"], list)


def is_report_markdown(path) -> bool:
    """True if ``path`` starts as a report ``compare_markdown`` wrote."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_MARKDOWN_HEAD.encode()))
    except OSError:
        return False
    return head == _MARKDOWN_HEAD.encode()

