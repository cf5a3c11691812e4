"""The webhook receiver process (stdlib only): records every request, answers as scripted over HTTP.

Run as ``python receiver_server.py PORT LOG``, it serves on 127.0.0.1:PORT. ``POST /_control`` sets how
it answers, for all paths or one path: ``{"status": 200 | 500 | 429 | 410 | 302, "retry_after": "2",
"hang": seconds, "path": "/hook/a"}``. ``GET /_received`` lists what arrived (headers, raw body, answer).
Records go to the LOG file too, so they survive a restart: "down" is the process stopped, which refuses
connections on its port.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_rules: dict[str, dict[str, Any]] = {}
_lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    log_path: Path

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/_received":
            text = self.log_path.read_text() if self.log_path.exists() else ""
            self._reply(200, json.dumps([json.loads(line) for line in text.splitlines()]).encode())
        else:
            self._reply(404)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/_control":
            rule = json.loads(body)
            with _lock:
                _rules[rule.pop("path", "*")] = rule
            self._reply(200, b"{}")
            return
        with _lock:
            rule = dict(_rules.get(self.path) or _rules.get("*") or {})
        status = int(rule.get("status", 200))
        record = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode(),
            "received_at": time.time(),
            "answered": "hang" if rule.get("hang") else status,
        }
        with _lock, self.log_path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if rule.get("hang"):
            time.sleep(float(rule["hang"]))
        headers = {"retry-after": str(rule["retry_after"])} if rule.get("retry_after") is not None else {}
        if 300 <= status < 400:
            headers["location"] = str(rule.get("location", "http://127.0.0.1:1/elsewhere"))
        self._reply(status, b"ok", headers)


def main(port: int, log_path: Path) -> None:
    _Handler.log_path = log_path
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
