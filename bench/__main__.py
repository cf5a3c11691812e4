"""``make bench``: run the benchmarks and print a Markdown table (recorded in docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import (
    accept_backlog,
    accept_durability,
    accept_path,
    batch_accept,
    dispatch,
    event_streams,
    open_karlo_queue,
    queue_place,
    quota_reserve,
    webhook_isolation,
    worker_drain,
    worker_memory,
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="karlo-queue benchmarks")
    parser.add_argument("--operations", type=int, default=10000, help="operations per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    parser.add_argument("--jobs", type=int, default=20, help="jobs per batch in the webhook benchmark")
    parser.add_argument("--latency-ms", type=int, default=500, help="the simulator's answer time (webhook benchmark)")
    parser.add_argument("--accepts", type=int, default=400, help="jobs per round in the durability benchmark")
    parser.add_argument("--open-jobs", type=int, default=4, help="jobs per round in the open Karlo benchmark")
    parser.add_argument("--open-samples", type=int, default=2, help="images per job in the open Karlo benchmark")
    parser.add_argument("--streams", type=int, default=1000, help="open event streams in the streams benchmark")
    parser.add_argument("--event-jobs", type=int, default=200, help="jobs per event burst (2 events each)")
    parser.add_argument("--batch-jobs", type=int, default=1000, help="jobs per round in the batch benchmark")
    parser.add_argument("--drain-jobs", type=int, default=400, help="jobs per round in the worker drain benchmark")
    parser.add_argument("--memory-jobs", type=int, default=16, help="jobs in the worker memory benchmark")
    parser.add_argument("--memory-samples", type=int, default=8, help="images per job in the memory benchmark")
    parser.add_argument("--decisions", type=int, default=2000, help="dispatch decisions per round (dispatch)")
    parser.add_argument("--connections", type=int, default=64, help="open connections in the accept benchmark")
    parser.add_argument("--accept-seconds", type=float, default=4.0, help="seconds per case per accept round")
    parser.add_argument("--backlog-calls", type=int, default=500, help="timed accepts per backlog size (backlog)")
    parser.add_argument("--place-jobs", type=int, default=200, help="queued jobs of the tenant read (place)")
    parser.add_argument("--place-calls", type=int, default=500, help="calls per case per round (place)")
    parser.add_argument("--prefer-jobs", type=int, default=20, help="Prefer: wait jobs timed in the accept benchmark")
    parser.add_argument(
        "--only",
        choices=[
            "quota",
            "accept",
            "backlog",
            "webhooks",
            "durability",
            "open-karlo",
            "streams",
            "batches",
            "dispatch",
            "place",
            "worker",
            "memory",
        ],
        help="run one benchmark",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="karloq-bench-") as workdir:
        for name, title, run in _benchmarks(args, Path(workdir)):
            if args.only in (None, name):
                print(f"\n## {title}\n")
                print(run())
    return 0


def _benchmarks(args: argparse.Namespace, workdir: Path) -> list[tuple[str, str, Callable[[], str]]]:
    """Every benchmark in the order they run: its ``--only`` name, its heading, and how to run it."""
    rounds = args.rounds
    return [
        (
            "quota",
            "Quota reservation script",
            lambda: quota_reserve.run(workdir, operations=args.operations, rounds=rounds),
        ),
        (
            "accept",
            "Accepting a job: the API against a bare FastAPI app doing one LPUSH",
            lambda: accept_path.run(
                workdir / "accept",
                connections=args.connections,
                seconds=args.accept_seconds,
                rounds=rounds,
                prefer_jobs=args.prefer_jobs,
            ),
        ),
        (
            "backlog",
            "The accept script's cost as the backlog grows",
            lambda: accept_backlog.run(workdir / "backlog", rounds=rounds, calls=args.backlog_calls),
        ),
        (
            "dispatch",
            "Fair dispatch decisions against plain FIFO",
            lambda: dispatch.run(workdir / "dispatch", decisions=args.decisions, rounds=rounds),
        ),
        (
            "place",
            "Reading a queued job's place and estimated start",
            lambda: queue_place.run(workdir / "place", jobs=args.place_jobs, calls=args.place_calls, rounds=rounds),
        ),
        (
            "webhooks",
            "Generation throughput while webhook receivers fail",
            lambda: webhook_isolation.run(
                workdir / "webhooks", jobs=args.jobs, rounds=rounds, latency_ms=args.latency_ms
            ),
        ),
        (
            "durability",
            "Accept throughput by durability setting",
            lambda: accept_durability.run(workdir / "durability", jobs=args.accepts, rounds=rounds),
        ),
        (
            "open-karlo",
            "Open Karlo on CPU (tiny random-weight model)",
            lambda: open_karlo_queue.run(
                workdir / "open-karlo", jobs=args.open_jobs, samples=args.open_samples, rounds=rounds
            ),
        ),
        (
            "streams",
            f"Events delivered to {args.streams} open streams",
            lambda: event_streams.run(workdir / "streams", streams=args.streams, jobs=args.event_jobs, rounds=rounds),
        ),
        (
            "batches",
            "Accepting a batch against single POSTs",
            lambda: batch_accept.run(workdir / "batches", jobs=args.batch_jobs, rounds=rounds),
        ),
        (
            "worker",
            "Draining a full queue: the worker against the floor and bare Celery",
            lambda: worker_drain.run(workdir / "worker", jobs=args.drain_jobs, rounds=rounds),
        ),
        (
            "memory",
            "Worker memory with photo-sized images",
            lambda: worker_memory.run(
                workdir / "memory", jobs=args.memory_jobs, samples=args.memory_samples, rounds=rounds
            ),
        ),
    ]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
