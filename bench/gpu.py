"""``make bench-gpu MODEL_DIR=...``: open Karlo on a GPU, for samples 1, 4 and 8 per job.

``MODEL_DIR`` holds the weights as the README has them fetched (``karlo-v1-alpha/``) or as
``python -m karlo_devstack.unclip_models`` writes them (``text2img/``). Without it, pipelines with the published
configurations and random weights are built first (the real model's compute; the images are noise). For each
sample count: a warm-up call, then ``--jobs`` seeded calls with the pipeline's default steps (25 prior, 25
decoder, 7 super-resolution), timed with the device synchronised; reported: latency per job (median), images
per second, and peak GPU memory (``torch.cuda.max_memory_allocated``).

With ``--upscaler-dir`` (``stabilityai/stable-diffusion-x4-upscaler`` weights, or
``python -m karlo_devstack.upscaler_model DIR`` for a dry run), the x4 upscaler is measured the same way on its
own: one batched call per job enlarging ``samples`` noise images of Karlo's size (``--upscale-size``, 256) with
``--upscale-steps`` denoising steps (75, its default).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.open_karlo_bare import load, time_calls


def _text2img_dir(model_dir: Path) -> Path:
    for name in ("karlo-v1-alpha", "text2img"):
        if (model_dir / name).is_dir():
            return model_dir / name
    return model_dir


def measure(model_dir: Path, *, device_name: str, samples: list[int], jobs: int) -> str:
    import torch

    pipeline, device = load(_text2img_dir(model_dir), device_name)
    cuda = device.type == "cuda"
    lines = [
        f"Device: {torch.cuda.get_device_name(device) if cuda else device_name}; torch {torch.__version__}; "
        f"{'float16' if cuda else 'float32'}; weights: {model_dir}\n",
        "| samples per job | latency per job (median, s) | images per second | peak GPU memory (GiB) |",
        "|---:|---:|---:|---:|",
    ]
    for count in samples:
        time_calls(pipeline, device, jobs=1, samples=count)  # warm-up
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        latency = statistics.median(time_calls(pipeline, device, jobs=jobs, samples=count))
        peak = f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f}" if cuda else "n/a"
        lines.append(f"| {count} | {latency:.2f} | {count / latency:.2f} | {peak} |")
    return "\n".join(lines)


def measure_upscale(
    upscaler_dir: Path, *, device_name: str, samples: list[int], jobs: int, size: int, steps: int
) -> str:
    import time

    import numpy as np
    import torch
    from PIL import Image

    from karlo_core.backends.open_karlo import load_upscaler

    device = torch.device(device_name)
    cuda = device.type == "cuda"
    pipeline = load_upscaler(upscaler_dir, torch.float16 if cuda else torch.float32).to(device)
    pipeline.set_progress_bar_config(disable=True)
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8))

    def call(count: int, seed: int) -> float:
        generators = [torch.Generator("cpu").manual_seed(seed + i) for i in range(count)]
        started = time.perf_counter()
        pipeline(prompt=["a benchmark"] * count, image=[noise] * count, num_inference_steps=steps, generator=generators)
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - started

    lines = [
        f"\nx4 upscaler: {size}x{size} to {4 * size}x{4 * size}, {steps} steps; weights: {upscaler_dir}\n",
        "| samples per job | latency per job (median, s) | images per second | peak GPU memory (GiB) |",
        "|---:|---:|---:|---:|",
    ]
    for count in samples:
        call(count, 0)  # warm-up
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        latency = statistics.median(call(count, job * count) for job in range(jobs))
        peak = f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f}" if cuda else "n/a"
        lines.append(f"| {count} | {latency:.2f} | {count / latency:.2f} | {peak} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="open Karlo on a GPU")
    parser.add_argument("--model-dir", default="", help="weights directory; empty: full-size random weights")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--samples", default="1,4,8", help="sample counts per job, comma-separated")
    parser.add_argument("--jobs", type=int, default=5, help="timed jobs per sample count")
    parser.add_argument("--tiny", action="store_true", help="without --model-dir: the tiny model (a dry run)")
    parser.add_argument("--upscaler-dir", default="", help="x4 upscaler weights to measure too; empty: not measured")
    parser.add_argument("--upscale-size", type=int, default=256, help="the side of the images the upscaler enlarges")
    parser.add_argument("--upscale-steps", type=int, default=75, help="the upscaler's denoising steps")
    args = parser.parse_args(argv)
    samples = [int(n) for n in args.samples.split(",")]
    if args.model_dir:
        print(measure(Path(args.model_dir), device_name=args.device, samples=samples, jobs=args.jobs))
    else:
        with tempfile.TemporaryDirectory(prefix="karloq-gpu-bench-") as workdir:
            shape = [] if args.tiny else ["--full-size"]
            subprocess.run([sys.executable, "-m", "karlo_devstack.unclip_models", workdir, *shape], check=True)
            print(measure(Path(workdir), device_name=args.device, samples=samples, jobs=args.jobs))
    if args.upscaler_dir:
        upscale = {"size": args.upscale_size, "steps": args.upscale_steps}
        print(
            measure_upscale(
                Path(args.upscaler_dir), device_name=args.device, samples=samples, jobs=args.jobs, **upscale
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
