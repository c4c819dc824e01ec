"""Many clients at once against a site on this host, counting every answer.

usage: python3 crowd.py URL HOST CLIENTS

Each of CLIENTS threads sends one GET to URL (on 127.0.0.1 only) with the
Host header HOST, all released at the same moment. Prints JSON: how many
answers of each status came back, how many requests failed without an
answer (reset, refused, timed out), and the Retry-After values the 503s
carried.
"""

import http.client
import json
import sys
import threading
import urllib.parse
from collections import Counter


def main(url, host, clients):
    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "::1"):
        sys.exit("only 127.0.0.1 or ::1 may be the target")
    clients = int(clients)
    if not 1 <= clients <= 500:
        sys.exit("CLIENTS must be between 1 and 500")
    start = threading.Barrier(clients)
    statuses, retry_after, errors = Counter(), Counter(), []
    lock = threading.Lock()

    def client():
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
        start.wait()
        try:
            connection.request("GET", parts.path or "/", headers={"Host": host})
            response = connection.getresponse()
            response.read()
            with lock:
                statuses[response.status] += 1
                if response.status == 503:
                    retry_after[response.getheader("Retry-After") or "missing"] += 1
        except OSError as error:
            with lock:
                errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ignored in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"statuses": {str(k): v for k, v in statuses.items()}, "failed": len(errors),
                      "errors": errors[:5], "retry_after": dict(retry_after)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
