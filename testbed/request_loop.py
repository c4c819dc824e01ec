#!/usr/bin/env python3
"""Send a bounded run of GET requests to a local URL, optionally while a unit restarts.

Requests go one after the other, each on a new connection, to 127.0.0.1 or
::1 only, ``--interval`` seconds apart. With ``--restarts K``, at evenly
spaced points a background thread runs ``systemctl ACTION UNIT`` (restart
by default, or reload), so requests keep arriving while the service stops
and starts, or hands over to a new master. Prints one JSON
object: how many requests were sent and how many failed (no answer, or not
200), the first errors, and the unit's main PIDs seen, which prove the
restarts happened, and the latency of the requests (median, 99th
percentile, maximum, and how many took a second or more).

An https:// URL is checked against ``--cafile`` (the system's CAs without
it), with the Host header as the TLS server name (SNI).

With ``--until FILE``, the loop also stops as soon as FILE exists (sending
at most ``--count`` requests, for at most ``--max-seconds``): a test
starts it, acts, then ends it. The report's ``ended`` says why the loop
stopped (``until``, ``count`` or ``time``): a test checks that it was
still running when the change it watched had ended.

With ``--samples FILE``, every request is also written to FILE as JSON: a
list of [wall-clock seconds it was sent, milliseconds it took, answered
200 or not], for drawing latency over time.

UNIT "-" names no unit: the loop runs where the service is not (the test
machine, through a port a test host publishes on 127.0.0.1).

usage: request_loop.py URL UNIT [--count N] [--restarts K] [--action ACTION]
                       [--timeout S] [--interval S] [--host HOST] [--until FILE]
                       [--cafile FILE] [--samples FILE] [--max-seconds S]
"""

import argparse
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

MAX_COUNT = 20000


def main_pid(unit):
    if unit == "-":
        return None
    out = subprocess.run(["systemctl", "show", "--property=MainPID", "--value", unit],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip() or 0)


class NamedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address, with another name for SNI and the certificate check."""

    def __init__(self, address, port, server_name, context, timeout):
        super().__init__(address, port, timeout=timeout, context=context)
        self.server_name = server_name

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.server_name)


def get(url, timeout, host_header=None, context=None):
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        connection = NamedHTTPSConnection(parts.hostname, parts.port or 443,
                                          host_header or parts.hostname, context, timeout)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    headers = {"Connection": "close"}
    if host_header:
        headers["Host"] = host_header
    try:
        connection.request("GET", parts.path or "/", headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("unit")
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--action", choices=["restart", "reload"], default="restart")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.0)
    parser.add_argument("--host", help="Host header to send")
    parser.add_argument("--until", help="stop once this file exists")
    parser.add_argument("--cafile", help="CA certificates for an https:// URL")
    parser.add_argument("--samples", help="write every request's time, latency and result here")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop after this long")
    args = parser.parse_args()
    if args.unit == "-" and args.restarts:
        sys.exit("--restarts needs a unit")
    if urllib.parse.urlsplit(args.url).hostname not in ("127.0.0.1", "::1"):
        sys.exit("only 127.0.0.1 or ::1 may be the target")
    if not 1 <= args.count <= MAX_COUNT:
        sys.exit(f"--count must be between 1 and {MAX_COUNT}")
    if not 0 <= args.interval <= 1:
        sys.exit("--interval must be between 0 and 1 second")
    if not 0 < args.max_seconds <= 1800:
        sys.exit("--max-seconds must be between 0 and 1800")

    context = ssl.create_default_context(cafile=args.cafile)
    pids = [main_pid(args.unit)]
    restart_at = {args.count * (k + 1) // (args.restarts + 1) for k in range(args.restarts)}
    restarter = None
    restart_errors = []

    def restart():
        result = subprocess.run(["systemctl", args.action, args.unit], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            restart_errors.append(result.stderr.strip())

    failed, errors, latencies, sent, samples = 0, [], [], 0, []
    started = time.monotonic()
    ended = "count"
    for i in range(args.count):
        if args.until and os.path.exists(args.until):
            ended = "until"
            break
        if time.monotonic() - started >= args.max_seconds:
            ended = "time"
            break
        sent += 1
        if i in restart_at:
            if restarter is not None:
                restarter.join()
                pids.append(main_pid(args.unit))
            restarter = threading.Thread(target=restart)
            restarter.start()
        sent_at, sent_wall, ok = time.monotonic(), time.time(), False
        try:
            status = get(args.url, args.timeout, args.host, context)
            latencies.append(time.monotonic() - sent_at)
            ok = status == 200
            if not ok:
                failed += 1
                errors.append(f"request {i}: HTTP {status}")
        except OSError as error:
            failed += 1
            errors.append(f"request {i}: {error!r}")
        if args.samples:
            samples.append([round(sent_wall, 4), round((time.monotonic() - sent_at) * 1000, 2), ok])
        if args.interval:
            time.sleep(args.interval)
    if restarter is not None:
        restarter.join()
        pids.append(main_pid(args.unit))
    if args.samples:
        with open(args.samples, "w", encoding="utf-8") as out:
            json.dump(samples, out)
    print(json.dumps({
        "sent": sent,
        "failed": failed,
        "ended": ended,
        "errors": errors[:5],
        "restart_errors": restart_errors,
        "main_pids": pids,
        "seconds": round(time.monotonic() - started, 2),
        **latency_report(latencies),
    }))


def latency_report(latencies):
    """Milliseconds: median, 99th percentile, maximum; requests of 1 s or more."""
    if not latencies:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None, "slow": 0}
    ordered = sorted(latencies)

    def at(fraction):
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 1)

    return {"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 1),
            "slow": sum(1 for latency in ordered if latency >= 1.0)}


if __name__ == "__main__":
    main()
