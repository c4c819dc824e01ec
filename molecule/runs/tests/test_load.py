"""The site under load: many clients at once, and a worker lost mid-request.

wrk runs on the host against nginx on 127.0.0.1 (the only place load goes),
bounded in time; the tests count failures, never time.
"""

import re
import time

from conftest import main_pid

DOMAIN = "hello.test"
CLIENTS = 2000


def wrk(host, clients, seconds=10, url="http://127.0.0.1/"):
    """Run wrk: (answers, failures, its output). A failure is a non-2xx/3xx
    answer or a socket error (connect, read, write, timeout)."""
    out = host.check_output(f"ulimit -n 20000; wrk --threads 2 --connections {clients} --duration {seconds}s "
                            f"--timeout 30s --header 'Host: {DOMAIN}' {url}")
    answers = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failures = (sum(int(n) for n in errors.groups()) if errors else 0) + (int(non_2xx.group(1)) if non_2xx else 0)
    return answers, failures, out


def test_two_thousand_clients_at_once_are_all_answered(host, record):
    answers, failures, out = wrk(host, CLIENTS)
    record(f"{CLIENTS} concurrent keep-alive clients through nginx for 10 s (wrk)", host.backend.get_hostname(),
           sent=answers, failed=failures)
    print(out)
    assert answers > CLIENTS, out
    assert failures == 0, out
    errors = host.check_output("journalctl --unit nginx --since '-2min' --no-pager --output cat; "
                               "tail -n 200 /var/log/nginx/error.log")
    assert "worker_connections are not enough" not in errors


def test_a_killed_worker_loses_no_request(host, background_requests, record):
    """nginx tries an idempotent request whose worker died again, on another
    worker of the same server (its backup entry)."""
    stop = background_requests(DOMAIN, interval=0.01)
    time.sleep(1)
    master = main_pid(host)
    workers = host.check_output(f"pgrep --parent {master}").split()
    for worker in workers[:2]:
        host.run_expect([0], f"kill -KILL {worker}")
        time.sleep(1)
    report = stop()
    record("two gunicorn workers killed (SIGKILL) under a request loop through nginx", host.backend.get_hostname(),
           sent=report["sent"], failed=report["failed"])
    after = host.check_output(f"pgrep --parent {master}").split()
    assert not set(workers[:2]) & set(after) and len(after) == len(workers)
    assert report["failed"] == 0, report["errors"]
