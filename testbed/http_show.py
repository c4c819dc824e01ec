"""Send one GET to 127.0.0.1 and print the answer the way `curl -i` would.

usage: http_show.py HOST_HEADER PORT PATH

Exits non-zero when the request fails or the answer is a server error, so
the demo stops loudly rather than printing a broken site as working.
"""

import http.client
import sys


def main() -> int:
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
    except OSError as error:
        print(f"request failed: {error}", file=sys.stderr)
        return 1
    print(f"HTTP/1.1 {resp.status} {resp.reason}")
    for name in ("Location", "Content-Type"):
        if resp.getheader(name):
            print(f"{name}: {resp.getheader(name)}")
    body = resp.read().decode(errors="replace").strip()
    if body and resp.status == 200:
        print()
        print(body)
    return 0 if resp.status < 500 else 1


if __name__ == "__main__":
    sys.exit(main())
