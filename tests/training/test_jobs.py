import time

import pytest
import torch

from aeviz.models import families as models
from aeviz.models.checkpoint import load_checkpoint
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.core import owned
from aeviz.core.errors import ConfigError
from aeviz.training.loop import train
from aeviz.training import jobs as tj

CFG = ModelConfig(family="ae", input_shape=(1, 8, 8), hidden=(16,), latent_dim=2)


def _spec(tmp_path, name="m1", epochs=3, overwrite=False, family="ae"):
    return tj.JobSpec(CFG.replace(family=family), TrainConfig(epochs=epochs, batch_size=16, seed=1),
                      "digits", name, tmp_path, overwrite)


def _wait(job, cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        snap = job.snapshot()
        if cond(snap):
            return snap
        time.sleep(0.01)
    raise AssertionError(f"timed out; last snapshot {job.snapshot()}")


def test_tiny_run_completes_and_saves(tmp_path, tiny_images):
    saved = []
    job = tj.TrainingJob(_spec(tmp_path), tiny_images, tiny_images[:16], on_saved=saved.append).start()
    assert job.join(30)
    snap = job.snapshot()
    assert snap.state == "done" and snap.progress == 1.0 and snap.epoch == 3
    assert [r["epoch"] for r in snap.history] == [1, 2, 3] and "test_loss" in snap.history[0]
    assert saved == [tmp_path / "m1"] and snap.saved_path == tmp_path / "m1"
    ckpt = load_checkpoint(tmp_path / "m1")
    assert ckpt.dataset_name == "digits" and len(ckpt.history) == 3
    # the name is taken now: refused without overwrite, accepted with it
    with pytest.raises(ConfigError, match="already exists"):
        tj.TrainingJob(_spec(tmp_path), tiny_images)
    job2 = tj.TrainingJob(_spec(tmp_path, epochs=1, overwrite=True), tiny_images).start()
    assert job2.join(30) and job2.snapshot().state == "done"
    assert len(load_checkpoint(tmp_path / "m1").history) == 1


def test_bad_name_refused(tmp_path, tiny_images):
    with pytest.raises(ConfigError, match="invalid name"):
        tj.TrainingJob(_spec(tmp_path, name="../evil"), tiny_images)


def test_pca_job(tmp_path, tiny_images):
    job = tj.TrainingJob(_spec(tmp_path, "p", epochs=1, family="pca"), tiny_images).start()
    assert job.join(30) and job.snapshot().state == "done"
    assert load_checkpoint(tmp_path / "p").config.family == "pca"


def test_cancel_stops_a_running_job(tmp_path, tiny_images):
    job = tj.TrainingJob(_spec(tmp_path, "long", epochs=5000), tiny_images).start()
    _wait(job, lambda s: s.state == "running" and s.epoch >= 1)
    job.cancel()
    assert job.join(10)
    snap = job.snapshot()
    assert snap.state == "cancelled" and "not saved" in snap.message and 1 <= snap.epoch < 5000
    assert not (tmp_path / "long").exists()


class _NaNAfter(models.Autoencoder):
    """An AE whose training loss turns NaN on its 9th training batch (epoch 3 of 4 batches)."""
    calls = 0

    def forward(self, x, generator=None, kl_weight=1.0):
        out = super().forward(x, generator, kl_weight)
        if self.training:
            type(self).calls += 1
            if type(self).calls >= 9:
                out.loss = out.loss * float("nan")
        return out


def test_divergence_reports_and_keeps_last_good_weights(tmp_path, tiny_images, monkeypatch):
    monkeypatch.setitem(models.MODELS, "ae", _NaNAfter)
    _NaNAfter.calls = 0
    job = tj.TrainingJob(_spec(tmp_path, "nan", epochs=10), tiny_images).start()  # 64/16 = 4 batches
    assert job.join(30)
    snap = job.snapshot()
    assert snap.state == "diverged" and "learning rate" in snap.message
    assert len(snap.history) == 2 and snap.can_save_last_good and snap.saved_path is None
    path = job.save_last_good()
    assert "saved" in job.snapshot().message and not job.snapshot().can_save_last_good
    got = load_checkpoint(path).model.state_dict()
    # the same seeded run stopped cleanly after 2 epochs has exactly these weights
    monkeypatch.setitem(models.MODELS, "ae", models.Autoencoder)
    ref = train(CFG, TrainConfig(epochs=2, batch_size=16, seed=1), tiny_images, device="cpu")
    want = ref.model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_jobs_beyond_the_limit_wait_in_a_queue(tmp_path, tiny_images):
    jobs = [tj.TrainingJob(_spec(tmp_path, f"q{i}", epochs=5000), tiny_images).start()
            for i in range(tj.MAX_CONCURRENT + 1)]
    try:
        for job in jobs[:-1]:
            _wait(job, lambda s: s.state == "running")
        time.sleep(0.3)
        last = jobs[-1].snapshot()
        assert last.state == "queued" and last.queue_position == 1
        assert tj.running_count() == tj.MAX_CONCURRENT and tj.queued_count() == 1
        jobs[0].cancel()                                     # a slot frees: the queued job starts
        _wait(jobs[-1], lambda s: s.state == "running")
    finally:
        for job in jobs:
            job.cancel()
        assert all(job.join(10) for job in jobs)
    assert tj.running_count() == 0 and tj.queued_count() == 0


def test_cancel_while_queued(tmp_path, tiny_images):
    blockers = [tj.TrainingJob(_spec(tmp_path, f"b{i}", epochs=5000), tiny_images).start()
                for i in range(tj.MAX_CONCURRENT)]
    waiting = tj.TrainingJob(_spec(tmp_path, "w", epochs=5000), tiny_images).start()
    try:
        _wait(waiting, lambda s: s.queue_position == 1)
        waiting.cancel()
        assert waiting.join(5)
        assert waiting.snapshot().state == "cancelled" and "queue" in waiting.snapshot().message
    finally:
        for job in blockers + [waiting]:
            job.cancel()
            job.join(10)


def test_a_finished_job_leaves_later_threads_with_the_process_thread_count(tmp_path, tiny_images):
    # torch.set_num_threads in a job thread is what every thread created later starts with:
    # Streamlit script runs stayed single-threaded for the life of the server (the old bug)
    import threading
    torch.set_num_threads(2)
    job = tj.TrainingJob(_spec(tmp_path, name="threads"), tiny_images, None).start()
    assert job.join(30) and job.snapshot().state == "done"
    seen = []
    later = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    later.start()
    later.join()
    assert seen == [2] and torch.get_num_threads() == 2


def test_a_target_being_trained_is_refused_to_a_second_job_until_the_first_finishes(tmp_path, tiny_images):
    first = tj.TrainingJob(_spec(tmp_path, "shared", epochs=5000), tiny_images).start()
    try:
        _wait(first, lambda s: s.state == "running")
        for overwrite in (False, True):              # ticking overwrite does not get past it either
            with pytest.raises(owned.Busy, match="another training is writing 'shared' right now"):
                tj.TrainingJob(_spec(tmp_path, "shared", epochs=1, overwrite=overwrite), tiny_images)
        assert tj.free_name(tmp_path, "shared") == "shared-2"     # the default name steps aside
    finally:
        first.cancel()
        assert first.join(10)
    assert first.snapshot().state == "cancelled" and not (tmp_path / "shared").exists()
    second = tj.TrainingJob(_spec(tmp_path, "shared", epochs=1), tiny_images).start()
    assert second.join(30) and second.snapshot().state == "done"
    assert len(load_checkpoint(tmp_path / "shared").history) == 1
    assert tj.free_name(tmp_path, "shared") == "shared-2"         # now a saved model holds it


def test_of_two_jobs_made_for_one_target_only_the_first_started_runs(tmp_path, tiny_images):
    a = tj.TrainingJob(_spec(tmp_path, "race", epochs=5000), tiny_images)
    b = tj.TrainingJob(_spec(tmp_path, "race", epochs=1, overwrite=True), tiny_images)
    a.start()
    try:
        with pytest.raises(owned.Busy, match="another training is writing 'race'"):
            b.start()
    finally:
        a.cancel()
        assert a.join(10)
    assert b.snapshot().state == "queued" and tj.queued_count() == 0   # b never entered the queue


def test_a_run_past_its_time_budget_is_stopped_and_not_saved(tmp_path, tiny_images):
    job = tj.TrainingJob(_spec(tmp_path, "slow", epochs=5000), tiny_images, time_budget_s=0.5).start()
    assert job.join(20)
    snap = job.snapshot()
    assert snap.state == "cancelled" and "time budget" in snap.message and "not saved" in snap.message
    assert snap.epoch < 5000 and not (tmp_path / "slow").exists()
    again = tj.TrainingJob(_spec(tmp_path, "slow", epochs=1), tiny_images).start()   # the name is free
    assert again.join(30) and again.snapshot().state == "done"


def test_a_free_name_skips_the_names_of_other_folders_too(tmp_path):
    (tmp_path / "zoo" / "digits-vae-2-mine").mkdir(parents=True)
    (tmp_path / "mine" / "digits-vae-2-mine-2").mkdir(parents=True)
    assert tj.free_name(tmp_path / "mine", "digits-vae-2-mine") == "digits-vae-2-mine"
    assert tj.free_name(tmp_path / "mine", "digits-vae-2-mine", also=(tmp_path / "zoo",)) == "digits-vae-2-mine-3"
