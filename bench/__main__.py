"""``make bench``: run the benchmarks and print a Markdown table (recorded in docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.quota_reserve import run


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="karlo-queue benchmarks")
    parser.add_argument("--operations", type=int, default=10000, help="operations per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="karloq-bench-") as workdir:
        print(run(Path(workdir), operations=args.operations, rounds=args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
