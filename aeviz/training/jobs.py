"""Background training: one job per session, at most ``MAX_CONCURRENT`` per process.

The Train page starts a ``TrainingJob`` and polls ``job.snapshot()`` from a
``st.fragment(run_every=...)``; the worker thread only writes into the job
under its lock, so no Streamlit call ever happens off the script thread.
Jobs beyond the process-wide limit wait in a queue (state "queued") until a
slot frees up, so a classroom cannot start thirty trainings on two cores.
A run must fit a compute budget (``check_compute``: estimated FLOPs against
this machine's speed) and is stopped once it runs past its wall-time budget.
One job at a time may write a target folder (``check_target``): a second job
for a name that is being trained is refused until the first one finishes.

This module imports no Streamlit: it is tested directly with threads.
"""
from __future__ import annotations

import copy
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from aeviz.models import compute
from aeviz.training.timeline import Recorder, save_with_timeline, watch
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.core import limits, owned
from aeviz.core.errors import AevizError, ConfigError, TrainingDiverged
from aeviz.core.paths import safe_name
from aeviz.training.loop import TrainResult, train

MAX_CONCURRENT = limits.APP_MAX_CONCURRENT_TRAININGS   # public: the Train page and load tests read it
THREADS_PER_JOB = 1             # torch intra-op threads (process-wide setting, see _run)
STATES = ("queued", "running", "done", "cancelled", "diverged", "failed")
FINISHED = {"done", "cancelled", "diverged", "failed"}

_slots = threading.BoundedSemaphore(MAX_CONCURRENT)
_registry_lock = threading.Lock()
_waiting: list["TrainingJob"] = []          # queued jobs in arrival order
_running: set["TrainingJob"] = set()
_writing: dict[str, "TrainingJob"] = {}     # absolute target folder -> the unfinished job writing it
_threads = {"jobs": 0, "before": 0}        # torch threads while jobs train, and the value to restore


@dataclass(frozen=True)
class JobSpec:
    model_config: ModelConfig
    train_config: TrainConfig
    dataset_name: str
    save_name: str                  # folder name under models_dir, checked with safe_name
    models_dir: Path
    overwrite: bool = False         # replace an existing model of the same name
    timeline: bool = False          # record training.timeline (the Timeline page)

    @property
    def target(self) -> Path:
        return self.models_dir / safe_name(self.save_name)


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's progress, safe to render from the script thread."""
    state: str
    epoch: int                      # epochs finished
    epochs: int
    progress: float                 # 0..1 over all batches
    history: list[dict[str, float]] = field(default_factory=list)
    message: str = ""
    saved_path: Path | None = None
    queue_position: int = 0         # 1 = next to start; 0 when not queued
    seconds: float = 0.0
    can_save_last_good: bool = False

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def check_target(spec: JobSpec, job: "TrainingJob | None" = None) -> Path:
    """Validate the save name, refuse a name another job is writing (owned.Busy) and refuse to
    overwrite unless asked; returns the folder. ``job``: the job asking, which may hold it."""
    target = spec.target
    with _registry_lock:
        holder = _writing.get(_key(target))
    if holder is not None and holder is not job:
        raise owned.Busy(f"another training is writing {spec.save_name!r} right now; choose another name")
    if target.exists() and not spec.overwrite:
        raise ConfigError(f"a model named {spec.save_name!r} already exists in {spec.models_dir}; "
                          "choose another name or tick 'overwrite'")
    return target


def _key(target: Path) -> str:
    return os.path.abspath(target)


def free_name(models_dir: Path, base: str, also: tuple[Path, ...] = ()) -> str:
    """``base``, else ``base-2``, ``base-3`` ...: the first name no saved model and no job holds,
    nor a folder in ``also`` (e.g. the shipped models, whose names must not be reused)."""
    with _registry_lock:
        busy = set(_writing)
    name, n = base, 1
    while any((d / name).exists() for d in (models_dir, *also)) or _key(models_dir / name) in busy:
        n += 1
        name = f"{base}-{n}"
    return name


def check_compute(model_config: ModelConfig, train_config: TrainConfig, n_train: int) -> float:
    """Estimated seconds of an app run; ConfigError over ``APP_MAX_TRAIN_SECONDS``.

    FLOPs of a training step per image x epochs x images, at one thread of this
    machine (``THREADS_PER_JOB``); PCA is fitted in one go and is not budgeted here.
    """
    if model_config.family_class.closed_form:
        return 0.0
    epochs = train_config.epochs
    return compute.check_budget(compute.flops_per_sample(model_config, training=True), epochs * n_train,
                                limits.APP_MAX_TRAIN_SECONDS, f"{epochs} epochs x {n_train:,} images",
                                "use fewer epochs, a smaller model or the CLI")


class _Stop:
    """The loop's cancel flag: set by ``cancel()`` or once the run is past its time budget."""

    def __init__(self, cancel: threading.Event, seconds: float):
        self.cancel, self.deadline = cancel, time.monotonic() + seconds
        self.timed_out = False

    def is_set(self) -> bool:
        if not self.cancel.is_set() and time.monotonic() > self.deadline:
            self.timed_out = True
        return self.timed_out or self.cancel.is_set()


class TrainingJob:
    """One training run in a daemon thread; progress is read with ``snapshot()``.

    ``time_budget_s``: wall time the run may train before it is stopped (not saved).
    """

    def __init__(self, spec: JobSpec, x_train: np.ndarray, x_test: np.ndarray | None = None,
                 on_saved: Callable[[Path], None] | None = None,
                 time_budget_s: float = limits.APP_MAX_TRAIN_WALL_SECONDS,
                 y_train: np.ndarray | None = None):
        check_target(spec)
        check_compute(spec.model_config, spec.train_config, len(x_train))
        self.spec = spec
        self._budget_s = float(time_budget_s)
        self._x_train, self._x_test, self._y_train = x_train, x_test, y_train
        self._on_saved = on_saved
        self._recorder: Recorder | None = None
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._state = "queued"
        self._epoch = 0
        self._step = 0
        self._steps_total = 1 if spec.model_config.family_class.closed_form else \
            spec.train_config.epochs * math.ceil(len(x_train) / spec.train_config.batch_size)
        self._history: list[dict[str, float]] = []
        self._message = ""
        self._saved: Path | None = None
        self._last_good: Any = None         # model with the last good weights, after divergence
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"aeviz-train-{spec.save_name}",
                                        daemon=True)

    # --- script-thread API -----------------------------------------------------------
    def start(self) -> "TrainingJob":
        """Queue the run; owned.Busy if another job started writing the same target meanwhile."""
        key = _key(self.spec.target)
        with _registry_lock:
            if _writing.get(key, self) is not self:
                raise owned.Busy(f"another training is writing {self.spec.save_name!r} right now; "
                                 "choose another name")
            _writing[key] = self            # released when the thread ends, in any state
            _waiting.append(self)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True when it has finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            state = self._state
            return JobSnapshot(
                state=state, epoch=self._epoch, epochs=self.spec.train_config.epochs,
                progress=1.0 if state == "done" else min(1.0, self._step / max(1, self._steps_total)),
                history=copy.deepcopy(self._history), message=self._message,
                saved_path=self._saved, queue_position=_queue_position(self) if state == "queued" else 0,
                seconds=time.monotonic() - self._started,
                can_save_last_good=state == "diverged" and self._last_good is not None
                and bool(self._history) and self._saved is None)

    def save_last_good(self) -> Path:
        """After divergence: save the weights of the last clean epoch under the job's name."""
        with self._lock:
            model, history = self._last_good, list(self._history)
        if model is None or not history:
            raise ConfigError("no finished epoch to save: training diverged in its first epoch")
        path = self._save(model, history, check_target(self.spec, self))
        with self._lock:
            self._message += f" The last good weights (epoch {len(history)}) were saved as {path.name}."
        return path

    # --- worker thread ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._queue_and_train()
        finally:
            with _registry_lock:
                if _writing.get(_key(self.spec.target)) is self:
                    del _writing[_key(self.spec.target)]

    def _queue_and_train(self) -> None:
        if not self._wait_for_slot():
            self._finish("cancelled", "Cancelled while waiting in the queue; nothing was trained.")
            return
        try:
            _job_threads(+1)
            with self._lock:
                self._state, self._started = "running", time.monotonic()
            stop = _Stop(self._cancel, self._budget_s)
            spec = self.spec
            self._recorder = watch(spec.timeline, spec.model_config, spec.train_config, spec.train_config.epochs,
                                   self._x_test, self._x_train)
            result = train(spec.model_config, spec.train_config, self._x_train, self._x_test, device="cpu",
                           on_step=self._on_step, model=self._recorder and self._recorder.model,
                           on_epoch=self._on_epoch, cancel=stop, y_train=self._y_train)
            self._after_training(result, stop.timed_out)
        except TrainingDiverged as e:
            with self._lock:
                self._last_good = getattr(e, "model", None)
                self._history = list(getattr(e, "history", self._history))
            self._finish("diverged", str(e))
        except AevizError as e:
            self._finish("failed", str(e))
        except Exception as e:  # noqa: BLE001 - a thread must report, not die silently
            self._finish("failed", f"training failed: {type(e).__name__}: {e}")
        finally:
            _job_threads(-1)
            with _registry_lock:
                _running.discard(self)
            _slots.release()

    def _wait_for_slot(self) -> bool:
        """Block until a process-wide slot is free; False if cancelled first."""
        while not self._cancel.is_set():
            with _registry_lock:
                first = bool(_waiting) and _waiting[0] is self   # first come, first served
            if first and _slots.acquire(timeout=0.1):
                with _registry_lock:
                    _waiting.remove(self)
                    _running.add(self)
                return True
            if not first:
                time.sleep(0.05)
        with _registry_lock:
            if self in _waiting:
                _waiting.remove(self)
        return False

    def _on_step(self, step: int, metrics: dict[str, float]) -> None:
        with self._lock:
            self._step = step

    def _on_epoch(self, epoch: int, row: dict[str, float]) -> None:
        if self._recorder is not None:
            self._recorder.on_epoch(epoch, row)
        with self._lock:
            self._epoch = epoch
            self._history.append(dict(row))

    def _after_training(self, result: TrainResult, timed_out: bool = False) -> None:
        if timed_out:
            self._finish("cancelled", f"Stopped after {len(result.history)} epoch(s): the run went past "
                         f"its time budget of {compute.duration(self._budget_s)}; the model was not saved. "
                         "Use fewer epochs, a smaller model or the CLI.")
            return
        if result.cancelled:
            self._finish("cancelled", f"Cancelled after {len(result.history)} epoch(s); the model "
                         "was not saved.")
            return
        with self._lock:
            self._history, self._epoch = list(result.history), self.spec.train_config.epochs
        path = self._save(result.model, result.history, check_target(self.spec, self))
        self._finish("done", f"Saved as {path.name} ({result.seconds:.1f} s).")

    def _save(self, model: Any, history: list[dict[str, float]], target: Path) -> Path:
        recorded = self._recorder.timeline() if self._recorder is not None else None
        path = save_with_timeline(target, model, recorded, stages=(self.spec.train_config,),
                                  dataset_name=self.spec.dataset_name,
                                  command="trained in the aeviz app", history=history)
        with self._lock:
            self._saved = path
        if self._on_saved:
            self._on_saved(path)
        return path

    def _finish(self, state: str, message: str) -> None:
        with self._lock:
            self._state, self._message = state, message


def _job_threads(delta: int) -> None:
    """Enter (+1) or leave (-1) a training job's torch thread setting.

    Small models on a shared 2-core server: one intra-op thread per job is much
    faster than OpenMP teams fighting over cores (30-100x measured under load).
    ``torch.set_num_threads`` is process-wide *and* is what every thread created
    later starts with (Streamlit's script-run threads included), so the first
    job saves the process's value and the last one to finish restores it: the
    server is single-threaded only while a job trains, never after. (Training
    in worker processes, which own their settings, removes even that window.)
    """
    with _registry_lock:
        if delta > 0 and _threads["jobs"] == 0:
            _threads["before"] = torch.get_num_threads()
            torch.set_num_threads(THREADS_PER_JOB)
        _threads["jobs"] += delta
        if delta < 0 and _threads["jobs"] == 0:
            torch.set_num_threads(_threads["before"])


def _queue_position(job: TrainingJob) -> int:
    with _registry_lock:
        return _waiting.index(job) + 1 if job in _waiting else 0


def running_count() -> int:
    """Training threads running now, process-wide."""
    with _registry_lock:
        return len(_running)


def queued_count() -> int:
    with _registry_lock:
        return len(_waiting)
