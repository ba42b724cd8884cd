"""URL query string validation: good links reopen a view, bad values are ignored with a warning."""
import pytest

from aeviz.ui import query, state


def test_valid_link_becomes_state_updates():
    updates, warnings = query.parse({
        "dataset": "digits", "split": "train", "proj": "pca", "a": "3", "b": "17", "t": "0.25",
        "models": "pretrained:digits-ae-2,pca:digits-2", "model": "user:my-vae"})
    assert warnings == []
    assert updates == {
        state.DATASET: "digits", state.SPLIT: "train", state.PROJECTION: "pca",
        state.ENDPOINTS: [3, 17], state.INTERP_T: 0.25,
        state.COMPARE_MODELS: ["pretrained:digits-ae-2", "pca:digits-2"],
        state.EXPLORE_MODEL: "user:my-vae"}


@pytest.mark.parametrize("name,value", [
    ("dataset", "../../etc/passwd"), ("dataset", "imagenet"),
    ("models", "pretrained:../secret"), ("models", "user:/etc/passwd"), ("models", "file:x"),
    ("models", "pretrained:a,pretrained:b,pretrained:c,pretrained:d"),
    ("models", "upload:0123456789abcdef"), ("model", "user:..hidden"), ("model", "a,b"),
    ("proj", "os.system"), ("split", "validation"), ("t", "nan"), ("t", "2"), ("t", "-0.1"),
    ("models", "pca:digits-0"), ("models", "user:" + "x" * 80), ("dataset", "upload-0123456789abcdef"),
])
def test_malicious_or_unknown_values_are_ignored_with_a_warning(name, value):
    updates, warnings = query.parse({name: value})
    assert updates == {}
    assert len(warnings) == 1 and name in warnings[0]


@pytest.mark.parametrize("a,b", [("-1", "2"), ("1e3", "2"), ("3", "99999999999"), ("x", "1"), ("²", "1"), ("٣", "1")])
def test_endpoints_must_be_plain_small_integers(a, b):
    updates, warnings = query.parse({"a": a, "b": b})
    assert state.ENDPOINTS not in updates
    assert warnings


def test_one_endpoint_alone_is_refused():
    updates, warnings = query.parse({"a": "4"})
    assert updates == {} and "both" in warnings[0]


def test_unknown_parameters_and_long_values():
    updates, warnings = query.parse({"evil": "1", "dataset": "d" * 1000, "split": "test"})
    assert updates == {state.SPLIT: "test"}
    assert len(warnings) == 2


def test_repeated_parameter_uses_the_last_value():
    updates, _ = query.parse({"proj": ["umap", "tsne"]})
    assert updates == {state.PROJECTION: "tsne"}


def test_projection_names_match_the_backend():
    from aeviz.maps import projections as project
    assert set(query.PROJECTIONS) <= set(project.METHODS)


def test_an_uploaded_dataset_is_never_opened_by_a_link():
    updates, warnings = query.parse({"dataset": "upload-0123456789abcdef"})
    assert updates == {} and "uploaded in another session" in warnings[0]
