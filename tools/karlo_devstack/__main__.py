"""``python -m karlo_devstack``: run the whole stack in the foreground until Ctrl-C (``make run``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from karlo_devstack.stack import STACK_ENV_FILE, Stack


def export_lines(stack: Stack) -> list[str]:
    """Shell lines that point a client at this stack as the dev tenant."""
    return [f"export KARLOQ_API_URL={stack.api_url}", f"export KARLOQ_API_KEY={stack.api_key}"]


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
        print(f"  api key of the dev tenant: kept in {args.workdir}/dev-api-key")
        env_file = args.workdir / STACK_ENV_FILE
        print(f"  admin CLI: make admin ARGS=list   (or python -m karlo_api.admin --env-file {env_file})")
        print("\nPaste into your shell (the README's examples use these):")
        for line in export_lines(stack):
            print(f"  {line}")
        print("\nGenerate images from the command line (at the checkout, with the exports above):")
        print('  .venv/bin/karloq generate "a cat in a spacesuit" --samples 2 --out imgs/')
        print("\nSubmit a job:")
        print('  curl -s -X POST "$KARLOQ_API_URL/v1/jobs" -H "Authorization: Bearer $KARLOQ_API_KEY" \\')
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
