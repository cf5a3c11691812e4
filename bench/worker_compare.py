"""This checkout's worker against another checkout's (an earlier commit), draining the same full queue in the
same run: CPU per job and drain time, each against the floor of the same calls and writes.

``python -m bench.worker_compare --other DIR`` where DIR holds the other tree (``git archive REF | tar -x -C
DIR``): its worker runs from DIR's ``shared`` and ``services/worker`` (put first on ``PYTHONPATH``), with this
checkout's environment otherwise. Each worker has a redis-server of its own; the simulator answers at once.
Each round runs the floor, then one worker's drain, then the other's (the order alternating), each worker
held still (SIGSTOP) while it is not the one measured, so drift in machine load hits them alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import redis

from bench import filesystem
from bench.queued_jobs import Held, JobQueuer
from bench.worker_drain import Drain, _floor, _queue_round, drain_env
from karlo_devstack.processes import ManagedProcess
from karlo_devstack.services import sim_control, start_redis, start_simulator, start_worker
from karlo_sim.config import DEFAULT_SIM_KEY


def compare(workdir: Path, other: Path, *, jobs: int, rounds: int, concurrency: int) -> str:
    processes: list[ManagedProcess] = []
    try:
        sim_proc, sim_url = start_simulator(workdir, {"KARLO_SIM_API_KEY": DEFAULT_SIM_KEY})
        processes.append(sim_proc)
        sim_control(sim_url, latency_ms=0)
        sides = {}
        for name, path in (("this", None), ("other", other)):
            redis_proc, redis_url = start_redis(workdir / name, persist=False)
            processes.append(redis_proc)
            env, settings = drain_env(workdir / name, redis_url, sim_url, concurrency)
            if path is not None:
                env["PYTHONPATH"] = f"{path / 'shared'}:{path / 'services' / 'worker'}"
            worker = start_worker(workdir / name, env, name=f"worker-{name}")
            processes.append(worker)
            client = redis.Redis.from_url(redis_url, decode_responses=True)
            sides[name] = (client, JobQueuer(settings), worker, settings)
        this_worker, other_worker = sides["this"][2], sides["other"][2]
        for name, (client, queuer, worker, _) in sides.items():  # warm-up
            with Held((other_worker if name == "this" else this_worker).pid):
                _queue_round(client, queuer, worker, concurrency)
        floor: list[Drain] = []
        found: dict[str, list[Drain]] = {"this": [], "other": []}
        for index in range(rounds):
            with Held(this_worker.pid), Held(other_worker.pid):
                floor.append(_floor(sides["this"][3], jobs, concurrency))
            order = ["this", "other"] if index % 2 == 0 else ["other", "this"]
            for name in order:
                client, queuer, worker, _ = sides[name]
                with Held((other_worker if name == "this" else this_worker).pid):
                    found[name].append(_queue_round(client, queuer, worker, jobs))
        return _table(jobs, concurrency, floor, found["this"], found["other"], filesystem.describe(workdir))
    finally:
        for proc in reversed(processes):
            proc.stop()


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def _table(jobs: int, concurrency: int, floor: list[Drain], this: list[Drain], other: list[Drain], fs: str) -> str:
    def ms(drains: list[Drain]) -> float:
        return statistics.median(d.cpu_seconds * 1000 / jobs for d in drains)

    pairs = list(zip(this, other, floor, strict=True))
    cpu_ratio = [t.cpu_seconds / o.cpu_seconds for t, o, _ in pairs]
    this_cpu, other_cpu = (
        [t.cpu_seconds / f.cpu_seconds for t, _, f in pairs],
        [o.cpu_seconds / f.cpu_seconds for _, o, f in pairs],
    )
    this_rate, other_rate = [f.seconds / t.seconds for t, _, f in pairs], [f.seconds / o.seconds for _, o, f in pairs]
    rate_ratio = [o.seconds / t.seconds for t, o, _ in pairs]
    rows = [
        f"{jobs} jobs per round, {concurrency} threads; median of {len(this)} rounds (lowest-highest). Working "
        f"directory (spools, stores) on {fs}: set TMPDIR to move it.",
        "",
        "| figure | this | other | this / other |",
        "|---|---:|---:|---:|",
        f"| worker CPU ms per job | {ms(this):.2f} | {ms(other):.2f} | {_spread(cpu_ratio)} |",
        f"| worker CPU per job vs the floor's | {_spread(this_cpu)} | {_spread(other_cpu)} | |",
        f"| drain rate vs the floor | {_spread(this_rate)} | {_spread(other_rate)} | {_spread(rate_ratio)} |",
        f"| Redis commands run per job (INFO commandstats) | {statistics.median(t.calls / jobs for t in this):.1f} | "
        f"{statistics.median(o.calls / jobs for o in other):.1f} | |",
    ]
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="this checkout's worker against another's, draining")
    parser.add_argument("--other", type=Path, required=True, help="the other tree (git archive REF | tar -x)")
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="karloq-compare-") as workdir:
        other = args.other.resolve()
        print(compare(Path(workdir), other, jobs=args.jobs, rounds=args.rounds, concurrency=args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
