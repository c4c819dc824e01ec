"""A git server over HTTP for the flask_app scenario: the bare repositories
under /srv/git, served read-only with git's "dumb" HTTP protocol, to a
client that sends the right user name and password (HTTP Basic) only.

usage: git_http_server.py PORT USER PASSWORD
"""

import base64
import functools
import hmac
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


class GitHandler(SimpleHTTPRequestHandler):
    expected = b""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        sent = self.headers.get("Authorization", "")
        given = sent[6:].encode() if sent.startswith("Basic ") else b""
        if not hmac.compare_digest(given, self.expected):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def do_HEAD(self):  # noqa: N802
        self.send_error(405)

    def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
        print(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    GitHandler.expected = base64.b64encode(f"{user}:{password}".encode())
    handler = functools.partial(GitHandler, directory="/srv/git")
    ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()
