"""``make bench``: run the benchmarks and print a Markdown table (recorded in docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench import (
    accept_durability,
    accept_path,
    batch_accept,
    event_streams,
    open_karlo_queue,
    quota_reserve,
    webhook_isolation,
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
    parser.add_argument("--connections", type=int, default=64, help="open connections in the accept benchmark")
    parser.add_argument("--accept-seconds", type=float, default=4.0, help="seconds per case per accept round")
    parser.add_argument("--prefer-jobs", type=int, default=20, help="Prefer: wait jobs timed in the accept benchmark")
    parser.add_argument(
        "--only",
        choices=["quota", "accept", "webhooks", "durability", "open-karlo", "streams", "batches"],
        help="run one benchmark",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="karloq-bench-") as workdir:
        if args.only in (None, "quota"):
            print("## Quota reservation script\n")
            print(quota_reserve.run(Path(workdir), operations=args.operations, rounds=args.rounds))
        if args.only in (None, "accept"):
            print("\n## Accepting a job: the API against a bare FastAPI app doing one LPUSH\n")
            print(
                accept_path.run(
                    Path(workdir) / "accept",
                    connections=args.connections,
                    seconds=args.accept_seconds,
                    rounds=args.rounds,
                    prefer_jobs=args.prefer_jobs,
                )
            )
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
