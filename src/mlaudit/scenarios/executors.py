"""Where reference models train when they are not a vectorised MLP ensemble: in a pool of local
processes, or as tasks on a Ray cluster (`--executor ray [--ray-address ADDR]`). Each model is one
task: the initial module, its training subset, the recipe and its shuffling seed go out; its
trained parameters come back, in order of completion, so the caller can checkpoint each at once.

Tasks train with one torch thread each, whatever runs them, so the same seeds give the same models
on every executor. Tasks and results cross process boundaries the way multiprocessing and Ray move
objects (pickling what this process built, inside its own process tree or the user's cluster);
nothing read from a file is ever unpickled.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mlaudit.errors import ConfigError, InputError
from mlaudit.models.factory import USER_MODULE_PREFIX
from mlaudit.models.train import TrainConfig, train

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class FitTask:
    """One reference model to train: `model` starts from its initial weights."""

    index: int
    model: nn.Module
    x: np.ndarray
    y: np.ndarray
    config: TrainConfig
    seed: int


def fit(task: FitTask) -> tuple[int, dict[str, np.ndarray]]:
    """Train one task's model in this process with one thread; return its index and parameters."""
    torch.set_num_threads(1)
    model = train(task.model, task.x, task.y, task.config, generator=torch.Generator().manual_seed(task.seed))
    return task.index, {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def fit_all(
    tasks: list[FitTask], *, executor: str = "local", workers: int | None = None, ray_address: str | None = None
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield (index, parameters) for every task as each finishes. `local`: a process pool of
    `workers` (default: the CPU count; 1 trains here, in this process); `ray`: one Ray task per model
    on the cluster at `ray_address` (None starts a local instance)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; use one of: {', '.join(EXECUTORS)}")
    if executor == "ray":
        yield from _on_ray(tasks, ray_address)
        return
    n = min(workers or os.cpu_count() or 1, len(tasks))
    if n <= 1:
        threads = torch.get_num_threads()
        try:
            for t in tasks:
                yield fit(t)
        finally:
            torch.set_num_threads(threads)
        return
    # spawn, not fork: a forked child of a process that has run torch's OpenMP threads can hang
    pool = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"))
    try:
        pending: set[Future[tuple[int, dict[str, np.ndarray]]]] = {pool.submit(fit, t) for t in tasks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()
    finally:  # interrupted: drop what has not started, do not wait for it
        pool.shutdown(wait=False, cancel_futures=True)


def _on_ray(tasks: list[FitTask], address: str | None) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    try:
        import ray
    except ImportError:
        raise InputError("the ray executor needs Ray: pip install 'mlaudit[ray]'") from None
    # the user's network or fit function from a file named in the config: Ray's workers cannot import
    # that module by name, so its code travels with the tasks (cloudpickle by value)
    for name, module in list(sys.modules.items()):
        if name.startswith(USER_MODULE_PREFIX):
            ray.cloudpickle.register_pickle_by_value(module)
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    remote_fit = ray.remote(num_cpus=1)(fit)
    try:
        pending = [remote_fit.remote(t) for t in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started:
            ray.shutdown()
