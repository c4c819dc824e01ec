"""A stand-in application for the nginx_proxy scenario.

Answers every GET with JSON describing the request it received (path and
headers), every POST with the size of the body it read, and logs each
request's path and method, so tests can see exactly what nginx forwarded,
whether a request reached the application at all, and how many times.
Paths under /status/CODE/ answer CODE; paths under /slow/SECONDS/ answer
after that many seconds.
"""

import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def misbehave(self):
        """Answer a /status/ path with its code, after a /slow/ path's wait."""
        slow = re.match(r"^/slow/([0-9]+)/", self.path)
        if slow:
            time.sleep(int(slow.group(1)))
        status = re.match(r"^/status/([0-9]{3})/", self.path)
        if not status:
            return False
        body = b"{}"
        self.send_response(int(status.group(1)))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return True

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.misbehave():
            return
        body = json.dumps(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        received = 0
        while received < length:
            chunk = self.rfile.read(min(65536, length - received))
            if not chunk:
                break
            received += len(chunk)
        if self.misbehave():
            return
        body = json.dumps({"path": self.path, "received": received}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
        print(f"request {self.path} {self.command}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", 8000), EchoHandler).serve_forever()
