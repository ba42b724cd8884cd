"""The app refuses to encode a split with an uploaded or user model that would take too long."""
import pytest

from aeviz.core.errors import ConfigError
from aeviz.models import compute
from aeviz.models.config import ModelConfig
from aeviz.ui import cache
from conftest import page_app


class _Ckpt:
    config = ModelConfig(family="vae", backbone="conv", input_shape=(1, 28, 28), hidden=(128, 1024))


def test_a_huge_uploaded_model_is_refused_and_a_shipped_one_is_not(monkeypatch):
    monkeypatch.setitem(compute._bench, "flops_per_second", 30e9)
    with pytest.raises(ConfigError, match=r"0\.41 GFLOP per image; encoding 10,000 images ≈ 2 min on "
                                          r"this server; the limit is 60 s: use a smaller model"):
        cache.check_encode_budget("upload:0123abcd", _Ckpt(), 10_000)
    with pytest.raises(ConfigError, match="GFLOP per image"):
        cache.check_encode_budget("user:big", _Ckpt(), 10_000)
    cache.check_encode_budget("pretrained:mnist-vae-2", _Ckpt(), 10_000)
    cache.check_encode_budget("upload:0123abcd", _Ckpt(), 1_000)           # 14 s: within the limit


def test_explore_says_why_it_does_not_encode_with_a_model_too_slow_here(monkeypatch):
    at = page_app("explore")                              # Explore opens user:tiny-ae2
    monkeypatch.setitem(compute._bench, "flops_per_second", 1e3)         # a very slow server
    at.run()
    assert not at.exception
    assert any("GFLOP per image" in e.value and "encoding" in e.value for e in at.error)
    assert not at.get("plotly_chart")                     # nothing was encoded or drawn
