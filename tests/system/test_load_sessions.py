"""Many users at once: sessions keep their own state, shared caches are read-only and
thread-safe, training in one session never blocks or corrupts another.

The browser test is a reduced run of ``benchmarks/load_test.py`` (3 concurrent
Chromium sessions against a real ``streamlit run app.py``); it skips when
Chromium or Playwright is missing unless AEVIZ_REQUIRE_BROWSER=1.
"""
import importlib.util
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from aeviz.models.checkpoint import load_checkpoint, save_checkpoint
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.data.registry import load_dataset
from aeviz.training.loop import seeded_model, train

REPO = Path(__file__).resolve().parents[2]
CFG = ModelConfig(family="ae", input_shape=(1, 8, 8), hidden=(16,), latent_dim=2)
sys.path.insert(0, str(REPO / "benchmarks"))


# --------------------------------------------------------------------------- shared caches

def test_shared_datasets_are_read_only_and_identical_across_threads():
    results, errors = [], []

    def load():
        try:
            results.append(load_dataset("digits"))
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)
    threads = [threading.Thread(target=load) for _ in range(6)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert not errors and len(results) == 6
    first = results[0]
    for ds in results:
        assert np.array_equal(ds.x_train, first.x_train) and np.array_equal(ds.y_test, first.y_test)
        for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
            assert not a.flags.writeable
    with pytest.raises(ValueError):
        first.x_train[0, 0, 0, 0] = 1.0          # one session cannot scribble on everyone's data


def test_ui_cache_hands_out_read_only_arrays():
    from aeviz.ui import cache
    ds = cache.get_dataset("digits")
    assert cache.get_dataset("digits") is ds                 # shared, not copied per rerun
    x, y = cache.get_split("digits", "test")
    assert not x.flags.writeable and not y.flags.writeable


def test_concurrent_seeded_models_are_reproducible():
    """Sessions build models in parallel threads; the global torch RNG must not mix them."""
    reference = {s: seeded_model(CFG, s).state_dict() for s in range(4)}
    wrong, barrier = [], threading.Barrier(4)

    def build(seed):
        barrier.wait()
        for _ in range(15):
            sd = seeded_model(CFG, seed).state_dict()
            if not all(torch.equal(sd[k], reference[seed][k]) for k in sd):
                wrong.append(seed)
    threads = [threading.Thread(target=build, args=(s,)) for s in range(4)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert wrong == []


def test_parallel_trainings_equal_sequential_ones(tiny_images):
    cfgs = [(CFG, TrainConfig(epochs=3, batch_size=16, seed=s)) for s in (1, 2)]
    alone = [train(c, t, tiny_images, device="cpu").model.state_dict() for c, t in cfgs]
    together: dict[int, dict] = {}

    def run(i):
        together[i] = train(*cfgs[i], tiny_images, device="cpu").model.state_dict()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join(120) for t in threads]
    for i in range(2):
        assert all(torch.equal(alone[i][k], together[i][k]) for k in alone[i])


# --------------------------------------------------------------------------- training jobs

def test_training_in_one_session_does_not_block_another(tmp_path):
    from aeviz.training import jobs as tj
    ds = load_dataset("digits")
    long = tj.JobSpec(CFG.replace(hidden=(128, 64)), TrainConfig(epochs=2000, batch_size=32), "digits",
                      "long", tmp_path)
    job = tj.TrainingJob(long, ds.x_train, ds.x_test).start()
    try:
        deadline = time.monotonic() + 30
        while job.snapshot().state != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        # another session's view: encode and decode its own model while the job trains
        other = seeded_model(CFG, 3).eval()
        t0 = time.perf_counter()
        for _ in range(5):
            other.decode_numpy(other.encode_numpy(np.asarray(ds.x_test)))
        elapsed = time.perf_counter() - t0
        assert job.snapshot().state == "running" and elapsed < 10
    finally:
        job.cancel()
        assert job.join(60)
    assert job.snapshot().state == "cancelled" and not (tmp_path / "long").exists()


def test_jobs_queue_beyond_the_limit_and_all_finish(tmp_path, tiny_images):
    from aeviz.training import jobs as tj
    jobs = [tj.TrainingJob(tj.JobSpec(CFG, TrainConfig(epochs=40, batch_size=16, seed=i), "digits",
                                      f"j{i}", tmp_path), tiny_images).start()
            for i in range(tj.MAX_CONCURRENT + 2)]
    seen_queued, peak = False, 0
    while not all(j.snapshot().finished for j in jobs):
        peak = max(peak, tj.running_count())
        seen_queued = seen_queued or any(j.snapshot().state == "queued" for j in jobs)
        time.sleep(0.01)
    assert all(j.join(60) for j in jobs)
    assert [j.snapshot().state for j in jobs] == ["done"] * len(jobs)
    assert peak <= tj.MAX_CONCURRENT and seen_queued
    for i in range(len(jobs)):                    # each saved its own, intact model
        assert load_checkpoint(tmp_path / f"j{i}").train_config.seed == i


# --------------------------------------------------------------------------- sessions (AppTest)

EXPLORE = str(REPO / "aeviz" / "ui" / "pages" / "explore.py")


@pytest.mark.skipif(not Path(EXPLORE).is_file(), reason="the Explore page is not in this checkout")
def test_two_sessions_keep_their_own_uploads_and_selection(tmp_path):
    from streamlit.testing.v1 import AppTest

    from aeviz.ui import state
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "mine", seeded_model(CFG, 5), dataset_name="digits"))
    a = AppTest.from_file(EXPLORE, default_timeout=120)
    b = AppTest.from_file(EXPLORE, default_timeout=120)
    a.session_state[state.UPLOADS] = {"upload:feedc0ffee123456": ckpt}
    a.session_state[state.EXPLORE_MODEL] = "upload:feedc0ffee123456"
    a.session_state[state.SELECTION] = [3]
    a.run()
    b.run()
    assert not a.exception and not b.exception
    text_a = " ".join(str(e.value) for e in [*a.markdown, *a.subheader, *a.caption])
    text_b = " ".join(str(e.value) for e in [*b.markdown, *b.subheader, *b.caption])
    assert "feedc0ff" in text_a and "Point #3" in text_a
    assert "feedc0ff" not in text_b and "Point #" not in text_b
    assert b.session_state[state.UPLOADS] == {} and b.session_state[state.SELECTION] == []
    a.session_state[state.SELECTION].append(7)    # in-place change in A ...
    b.run()
    assert b.session_state[state.SELECTION] == []  # ... never reaches B (no shared default list)


# --------------------------------------------------------------------------- the browser run

def _browser_missing() -> str | None:
    if not Path("/usr/bin/chromium").exists():
        return "Debian's Chromium (/usr/bin/chromium) is not installed"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed"
    return None


def test_leakage_check_can_fail():
    import load_test
    a, b = load_test.Session(0, "a", marker="a-1111.zip"), load_test.Session(1, "b", marker="b-2222.zip")
    a.texts, b.texts = ["a-1111.zip · ae-2"], ["a-1111.zip · ae-2 seen by b"]
    assert load_test.leakage([a, b]) == ["session 1 shows session 0's upload a-1111.zip"]
    assert load_test.percentile([3.0, 1.0, 2.0], 50) == 2.0


@pytest.mark.browser
@pytest.mark.slow
def test_three_concurrent_browser_sessions():
    why = _browser_missing()
    if why and os.environ.get("AEVIZ_REQUIRE_BROWSER") != "1":
        pytest.skip(why)
    import load_test
    report = load_test.run(3, ("open", "slider", "explore", "upload", "projection"), timeout=85)
    assert report["errors"] == [], report
    assert report["leakage"] == [], report
    assert report["latency_s"]["interactions_p95"] is not None, report
    assert len(report["latency_s"]["per_step_p50"]) == 5, report
