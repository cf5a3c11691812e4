"""``python -m karlo_devstack``: run the whole stack in the foreground until Ctrl-C (``make run``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from karlo_devstack.stack import Stack

#: How often a worker that exited (a crash, an OOM kill) is noticed and started again.
WORKER_CHECK_SECONDS = 1.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Run karlo-queue on this machine.")
    parser.add_argument("--workdir", type=Path, default=Path("var/run"), help="logs, Redis data, images")
    parser.add_argument("--workers", type=int, default=1, help="worker processes to start")
    args = parser.parse_args(argv)
    stack = Stack(workdir=args.workdir.resolve(), workers=args.workers)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        stack.start()
        print("karlo-queue is running:")
        for note in stack.notes:
            print(f"  {note}")
        print(f"  api: {stack.api_url}   (docs: {stack.api_url}/docs, logs: {args.workdir}/logs)")
        print(f"  api key of the dev tenant: {stack.api_key}   (kept in {args.workdir}/dev-api-key)")
        print("\nSubmit a job:")
        print(f"  export KARLOQ_API_KEY=$(cat {args.workdir}/dev-api-key)")
        print(f'  curl -s -X POST {stack.api_url}/v1/jobs -H "Authorization: Bearer $KARLOQ_API_KEY" \\')
        print("       -H 'Content-Type: application/json' \\")
        print('       -d \'{"kind":"generate","input":{"prompt":"a cat in a spacesuit","samples":2}}\'')
        print("\nPress Ctrl-C to stop.", flush=True)
        while not stopping.wait(WORKER_CHECK_SECONDS):
            for name in stack.revive_workers():
                print(f"{name} had exited; started it again (its log: {args.workdir}/logs/{name}.log)", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
