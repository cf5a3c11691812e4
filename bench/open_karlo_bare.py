"""``python -m bench.open_karlo_bare MODEL_DIR JOBS SAMPLES DEVICE``: the baseline of the open Karlo benchmarks.

Loads the text-to-image pipeline with the backend's own loader, makes one warm-up call (a process's first call
is many times slower), then times ``JOBS`` bare pipeline calls of
``SAMPLES`` images each (seeded, default steps), with no queue, storage or encoding around them. Prints one JSON
line: seconds per call, and the process's peak RSS (and peak GPU memory on CUDA).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any


def load(model_dir: Path, device_name: str) -> tuple[Any, Any]:
    """The text-to-image pipeline on ``device_name``, loaded by the backend's own loader."""
    import torch

    from karlo_core.backends.open_karlo import load_text2img

    device = torch.device(device_name)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    pipeline = load_text2img(model_dir, dtype).to(device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline, device


def time_calls(pipeline: Any, device: Any, *, jobs: int, samples: int) -> list[float]:
    """Seconds each of ``jobs`` seeded calls of ``samples`` images takes (default steps)."""
    import torch

    seconds = []
    for job in range(jobs):
        generators = [torch.Generator("cpu").manual_seed(job * samples + i) for i in range(samples)]
        started = time.perf_counter()
        pipeline(prompt="a benchmark", num_images_per_prompt=samples, generator=generators)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    return seconds


def main(argv: list[str]) -> int:
    import torch

    model_dir, jobs, samples, device_name = Path(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    pipeline, device = load(model_dir, device_name)
    time_calls(pipeline, device, jobs=1, samples=samples)  # warm-up: a process's first call is far slower
    seconds = time_calls(pipeline, device, jobs=jobs, samples=samples)
    result = {
        "seconds": seconds,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_gpu_bytes": torch.cuda.max_memory_allocated() if device.type == "cuda" else None,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
