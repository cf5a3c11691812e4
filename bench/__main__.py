"""``make bench``: run the benchmarks and print a Markdown table (recorded in docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench import (
    accept_durability,
    batch_accept,
    dispatch,
    event_streams,
    open_karlo_queue,
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
    parser.add_argument(
        "--only",
        choices=["quota", "webhooks", "durability", "open-karlo", "streams", "batches", "dispatch", "worker", "memory"],
        help="run one benchmark",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="karloq-bench-") as workdir:
        if args.only in (None, "quota"):
            print("## Quota reservation script\n")
            print(quota_reserve.run(Path(workdir), operations=args.operations, rounds=args.rounds))
        if args.only in (None, "dispatch"):
            print("\n## Fair dispatch decisions against plain FIFO\n")
            print(dispatch.run(Path(workdir) / "dispatch", decisions=args.decisions, rounds=args.rounds))
        if args.only in (None, "webhooks"):
            print("\n## Generation throughput while webhook receivers fail\n")
            print(
                webhook_isolation.run(
                    Path(workdir) / "webhooks", jobs=args.jobs, rounds=args.rounds, latency_ms=args.latency_ms
                )
            )
        if args.only in (None, "durability"):
            print("\n## Accept throughput by durability setting\n")
            print(accept_durability.run(Path(workdir) / "durability", jobs=args.accepts, rounds=args.rounds))
        if args.only in (None, "open-karlo"):
            print("\n## Open Karlo on CPU (tiny random-weight model)\n")
            print(
                open_karlo_queue.run(
                    Path(workdir) / "open-karlo", jobs=args.open_jobs, samples=args.open_samples, rounds=args.rounds
                )
            )
        if args.only in (None, "streams"):
            print(f"\n## Events delivered to {args.streams} open streams\n")
            print(
                event_streams.run(
                    Path(workdir) / "streams", streams=args.streams, jobs=args.event_jobs, rounds=args.rounds
                )
            )
        if args.only in (None, "batches"):
            print("\n## Accepting a batch against single POSTs\n")
            print(batch_accept.run(Path(workdir) / "batches", jobs=args.batch_jobs, rounds=args.rounds))
        if args.only in (None, "worker"):
            print("\n## Draining a full queue: the worker against the floor and bare Celery\n")
            print(worker_drain.run(Path(workdir) / "worker", jobs=args.drain_jobs, rounds=args.rounds))
        if args.only in (None, "memory"):
            print("\n## Worker memory with photo-sized images\n")
            print(
                worker_memory.run(
                    Path(workdir) / "memory", jobs=args.memory_jobs, samples=args.memory_samples, rounds=args.rounds
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
