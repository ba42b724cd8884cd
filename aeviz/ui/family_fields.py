"""The Train page's settings that a model family adds: one widget per ModelConfig field it reads.

Fields with a widget of their own on the Train page (``DRAWN``) are skipped; any other
field a family reads (cae's contraction, aae's prior...) gets a widget chosen by the
field's type, so a new family needs no UI code. ModelConfig checks the values.
"""
from __future__ import annotations

import streamlit as st

from aeviz.core import limits
from aeviz.core.errors import ConfigError
from aeviz.models.config import MODEL_CHOICES, ModelConfig
from aeviz.models.priors import PRIORS, get_prior
from aeviz.render import figures
from aeviz.ui.text import plain

DRAWN = ("beta", "noise", "noise_level", "sparsity")   # family fields with their own widget on the page

FIELD_HELP = {"prior": "The distribution the discriminator pulls the codes towards: "
                       + "; ".join(f"{k}: {c.help}" for k, c in PRIORS.items()) + ".",
              "prior_components": "Components of the mixture prior (one per class for label placement).",
              "prior_by_label": "Each class is pulled to its own mixture component (Makhzani et al.'s "
                                "label-conditioned placement; needs a labelled dataset)."}


def family_widgets(cls: type) -> dict[str, object]:
    """A widget for each field the family reads that has no widget of its own (a new family's
    coefficient, e.g. cae's contraction; aae's prior), by the field's type; ModelConfig checks
    the value. A family with a prior choice gets a picture of the prior."""
    names = [n for n in cls.uses if n not in DRAWN]
    cols = st.columns(4) if names else []
    values = {n: _field_widget(cols[i % 4], n, cls) for i, n in enumerate(names)}
    if "prior" in values:
        _prior_picture(values["prior"], values.get("prior_components", 10))
    return values


def _field_widget(col, name: str, cls: type):
    label = name.replace("_", " ").capitalize()
    default = getattr(ModelConfig(), name)
    key, help_text = f"_w.train.{name}", FIELD_HELP.get(name, f"{cls.family}: {cls.help}")
    if isinstance(default, bool):
        return bool(col.checkbox(label, default, key=key, help=help_text))
    if isinstance(default, str):
        choices = MODEL_CHOICES[name]
        return col.selectbox(label, choices, index=choices.index(default), key=key, help=help_text)
    if isinstance(default, int):
        return int(col.number_input(label, 1, limits.PRIOR_MAX_COMPONENTS, default, key=key, help=help_text))
    return float(col.number_input(label, 0.0, None, float(default), format="%.4f", key=key, help=help_text))


def _prior_picture(prior: str, components: int) -> None:
    """2,000 draws of the chosen prior in its first two dimensions: what the codes will look like."""
    try:
        draws = get_prior(prior, 2, int(components)).sample_numpy(2000, seed=0)
    except ConfigError as e:
        st.caption(plain(e))
        return
    st.plotly_chart(figures.prior_scatter(draws, f"The {prior} prior (2,000 draws, first two dimensions)"),
                    key="_w.train.prior_picture", config={"displaylogo": False})
