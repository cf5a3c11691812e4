"""``python -m karlo_devstack.receiver``: a webhook receiver for trying karlo-queue on one machine.

It answers every POST with 204, prints one line per event, and keeps the latest body of each event as
``<dir>/<event>.json`` (written whole, then renamed, so a reader never sees half a file). It does not verify
signatures: see the README's "Verifying" for what a real receiver does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

EVENT_HEADER = "karloq-event"


def handler_for(directory: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            event = self.headers.get(EVENT_HEADER) or "unknown"
            self.send_response(204)
            self.end_headers()
            if not event.replace(".", "").replace("_", "").isalnum():
                return
            target = directory / f"{event}.json"
            partial = target.with_suffix(".json.partial")
            partial.write_bytes(body)
            os.replace(partial, target)
            try:
                job = json.loads(body)
                print(f"{event}: job {job.get('id')} is {job.get('status')} (body in {target})", flush=True)
            except ValueError:
                print(f"{event}: a body that is not JSON (kept in {target})", flush=True)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Print karlo-queue webhooks and keep the latest of each event.")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--dir", type=Path, default=Path("var/run/webhooks"), help="where bodies are kept")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_for(args.dir))
    print(f"receiving webhooks on http://127.0.0.1:{args.port}/ (bodies in {args.dir}); Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
