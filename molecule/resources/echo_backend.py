"""A stand-in application for the nginx_proxy scenario.

Answers every GET with JSON describing the request it received (path and
headers), every POST with the size of the body it read, and logs each
request's path and method, so tests can see exactly what nginx forwarded,
whether a request reached the application at all, and how many times.
Paths under /status/CODE/ answer CODE; paths under /slow/SECONDS/ answer
after that many seconds; paths under /stream/COUNT/ answer COUNT lines, one
every half second, as they are written (chunked); a WebSocket handshake
(Upgrade: websocket) is accepted and every text message echoed back.
"""

import base64
import hashlib
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

    def stream(self, count):
        self.send_response(200)
        # Server-sent events when the client asks for them; text otherwise
        # (a streamed export, which nginx would compress).
        events = "text/event-stream" in self.headers.get("Accept", "")
        self.send_header("Content-Type", "text/event-stream" if events else "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for number in range(count):
            line = f"data: {number} {time.time():.3f}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
            time.sleep(0.5)
        self.wfile.write(b"0\r\n\r\n")

    def websocket(self):
        """RFC 6455, as far as an echo of unfragmented text frames needs."""
        key = self.headers["Sec-WebSocket-Key"].encode()
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2 or head[0] & 0x0F == 0x8:
                return
            length = head[1] & 0x7F
            if length == 126:
                length = int.from_bytes(self.rfile.read(2), "big")
            mask = self.rfile.read(4)
            data = bytes(byte ^ mask[index % 4] for index, byte in enumerate(self.rfile.read(length)))
            reply = b"echo: " + data
            self.wfile.write(bytes([0x81, len(reply)]) + reply)
            self.wfile.flush()

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.websocket()
            self.close_connection = True
            return
        streamed = re.search(r"/stream/([0-9]+)/", self.path)
        if streamed:
            self.stream(int(streamed.group(1)))
            return
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
