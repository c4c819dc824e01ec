"""Send one request to 127.0.0.1 and print the answer the way `curl -i` would.

usage: http_show.py HOST_HEADER PORT PATH
       http_show.py HOST_HEADER PORT --job   POST /jobs, then GET /jobs/<id>
                                             until the worker has run it

Exits non-zero when the request fails or the answer is a server error (or
the job is not run within 30 s), so the demo stops loudly rather than
printing a broken site as working.
"""

import http.client
import json
import sys
import time


def request(host, port, method, path):
    """Send one request and print the answer; returns (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers={"Host": host})
        resp = conn.getresponse()
    except OSError as error:
        print(f"request failed: {error}", file=sys.stderr)
        return 0, ""
    print(f"HTTP/1.1 {resp.status} {resp.reason}")
    for name in ("Location", "Content-Type"):
        if resp.getheader(name):
            print(f"{name}: {resp.getheader(name)}")
    body = resp.read().decode(errors="replace").strip()
    if body and resp.status < 300:
        print()
        print(body)
    return resp.status, body


def job(host, port):
    """Enqueue a job through the site and show it once the worker ran it."""
    status, body = request(host, port, "POST", "/jobs")
    if status != 202:
        return 1
    path = f"/jobs/{json.loads(body)['id']}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", path, headers={"Host": host})
        if json.loads(conn.getresponse().read()).get("state") == "done":
            break
        time.sleep(0.5)
    print(f'\n$ curl -i -H "Host: {host}" "http://127.0.0.1:{port}{path}"')
    status, body = request(host, port, "GET", path)
    return 0 if status == 200 and json.loads(body).get("state") == "done" else 1


def main() -> int:
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if path == "--job":
        return job(host, port)
    status, _body = request(host, port, "GET", path)
    return 0 if 0 < status < 500 else 1


if __name__ == "__main__":
    sys.exit(main())
