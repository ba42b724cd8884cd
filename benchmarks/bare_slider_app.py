"""The baseline for benchmarks/app_latency.py: a bare Streamlit page, one slider, one image.

Same widget round trip as aeviz's Compare page (slider -> rerun -> new PNG),
with nothing else, so the ratio shows what aeviz adds on top of Streamlit.
"""
import numpy as np
import streamlit as st

st.title("Bare slider")
t = st.slider("Position between A and B", 0.0, 1.0, 0.5, 0.05)
pixels = np.random.default_rng(int(round(t * 100))).random((8, 8))        # a new 8x8 "digit" per t
picture = (pixels * 255).astype(np.uint8).repeat(18, axis=0).repeat(18, axis=1)
st.image(picture, caption=f"bare at t = {t:.2f}", width=144, output_format="PNG")
