"""Stacks with open Karlo enabled: the API, a hosted-Karlo worker (it also delivers webhooks) and workers
started for open Karlo, loading the tiny random-weight model the session built."""

from __future__ import annotations

from pathlib import Path

from karlo_devstack.processes import ManagedProcess
from karlo_devstack.services import start_worker
from support.stacks import AppStack

#: What the tiny model's super-resolution stage makes (the published weights make 256).
TINY_IMAGE_SIZE = 64


#: The tiny upscaler's denoising steps per job: few, so an upscaled job takes seconds on a CPU.
TINY_UPSCALE_STEPS = 3


def open_karlo_env(models: Path, upscaler: Path | None = None) -> dict[str, str]:
    """Settings for the tiny model; with ``upscaler``, its x4 upscaler too."""
    env = {
        "KARLOQ_ENABLED_BACKENDS": "karlo,karlo-open",
        "KARLOQ_OPEN_KARLO_MODEL": str(models / "text2img"),
        "KARLOQ_OPEN_KARLO_VARIATIONS_MODEL": str(models / "variations"),
        "KARLOQ_OPEN_KARLO_DEVICE": "cpu",
        "KARLOQ_OPEN_KARLO_IMAGE_SIZE": str(TINY_IMAGE_SIZE),
    }
    if upscaler is not None:
        env["KARLOQ_OPEN_KARLO_UPSCALER_MODEL"] = str(upscaler)
        env["KARLOQ_OPEN_KARLO_UPSCALE_STEPS"] = str(TINY_UPSCALE_STEPS)
    return env


def add_open_karlo_worker(stack: AppStack) -> ManagedProcess:
    """A worker of the karlo-open queue only; it is started once its model is loaded."""
    env = {**stack.env, "KARLOQ_WORKER_QUEUES": "karlo-open", "OMP_NUM_THREADS": "1"}
    worker = start_worker(stack.workdir, env, name=f"open-worker-{len(stack.workers)}")
    stack.workers.append(worker)
    return worker
