"""Where a worker's CPU goes while it drains a full queue: py-spy samples the worker (only the thread holding
the GIL, so a sample is Python at work, not a thread waiting), and each sample is put in one part of a job's
path by the frames on its stack.

``python -m bench.worker_profile --jobs 400 --rounds 2`` with py-spy installed (``pip install py-spy``; it
needs leave to read another process's memory). The stack is :mod:`bench.worker_drain`'s: redis-server, the
simulator answering at once, one worker with 8 threads storing to a local directory. ``rounds`` batches of
jobs are queued while the worker is held still, then sampled from its release until all are finished.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import redis

from bench.cpu_shares import cpu_seconds
from bench.queued_jobs import Held, JobQueuer, wait_drained
from bench.worker_drain import PARAMS, start_drain_stack
from karlo_devstack.processes import ManagedProcess
from karlo_devstack.services import start_worker

#: The parts of the path, each by a pattern its frames match; a sample goes to the first that matches.
PARTS = (
    ("claim (with the reservation's restamp)", r"JobStore\.claim "),
    ("Karlo t2i call (httpcore)", r"KarloClient\.infer"),
    ("image fetched into the spool (httpcore, net guard, file)", r"_copy \(karlo_worker/storing"),
    ("spool: part files, header, manifest, room", r"Spool\.|_described|take_generation"),
    ("image store put", r"store_generated"),
    ("settle", r"JobStore\.succeed|_settle "),
    ("spool removed after the settle", r"Spool\.discard"),
    ("log lines", r"Logger\."),
    ("metrics", r"job_metrics"),
    ("dispatch step after a job", r"Dispatcher\.after"),
    ("rest of the job's own code", r"karlo_worker/pipeline\.py"),
    ("Celery's task wrapper", r"celery/app/trace\.py"),
    ("lease keeper", r"LeaseKeeper"),
    ("chores (sweeper, orphans, dispatch tick, outbox)", r"Periodic\.run"),
    ("Celery's consumer (BRPOP, unacked index, ack, decoding)", r"celery/worker/|kombu/"),
)


def parts(raw: str) -> tuple[int, Counter[str]]:
    """Samples in all and by part, from py-spy's raw output (one ``frame;frame;... count`` line per stack)."""
    total, found = 0, Counter[str]()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():  # a line py-spy cut short when it was stopped
            continue
        samples = int(count)
        total += samples
        name = next((name for name, pattern in PARTS if re.search(pattern, stack)), "other")
        found[name] += samples
    return total, found


def profile(workdir: Path, *, jobs: int, rounds: int, concurrency: int, out: Path) -> str:
    spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    processes: list[ManagedProcess] = []
    try:
        redis_url, env, settings = start_drain_stack(workdir, processes, concurrency)
        worker = start_worker(workdir, env, name="worker")
        processes.append(worker)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        queuer = JobQueuer(settings)
        queuer.queue(PARAMS, concurrency)  # warm-up
        wait_drained(client)
        with Held(worker.pid):
            for _ in range(rounds):
                queuer.queue(PARAMS, jobs)
            argv = [spy, "record", "--pid", str(worker.pid), "--gil", "--nonblocking", "--rate", "400"]
            sampler = subprocess.Popen([*argv, "--format", "raw", "--output", str(out)])
            cpu = cpu_seconds(worker.pid)
        wait_drained(client)
        cpu = cpu_seconds(worker.pid) - cpu
        sampler.send_signal(signal.SIGINT)
        sampler.wait(60)
    finally:
        for proc in reversed(processes):
            proc.stop()
    total, found = parts(out.read_text())
    lines = [
        f"{jobs * rounds} jobs, {concurrency} threads: worker CPU {cpu * 1000 / (jobs * rounds):.2f} ms per job "
        f"(sampled, so slower than unsampled); {total} samples.",
        "",
        "| part | share of samples | ms per job |",
        "|---|---:|---:|",
    ]
    for name, samples in found.most_common():
        share = samples / total
        lines.append(f"| {name} | {share:.1%} | {share * cpu * 1000 / (jobs * rounds):.2f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="where a worker's CPU goes while draining")
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2, help="batches queued before the drain")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", type=Path, help="keep py-spy's raw samples here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="karloq-profile-") as workdir:
        out = args.out or Path(workdir) / "samples.txt"
        print(profile(Path(workdir), jobs=args.jobs, rounds=args.rounds, concurrency=args.concurrency, out=out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
