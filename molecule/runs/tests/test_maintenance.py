"""playbooks/maintenance.yml on the converged stack: on, every client but
the allow-list's gets the maintenance page from nginx, the application
untouched; off, the site as it was. Both switches run under a request loop
from the allow-listed client (this host's 127.0.0.1), which must lose
nothing.
"""

import json
import os
import re
from pathlib import Path

import pytest

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
MAINTENANCE = PROJECT / "playbooks" / "maintenance.yml"
DOMAIN = "hello.test"
# The allow-list, and a Retry-After of the site's own.
ALLOW = json.dumps({"nginx_proxy_maintenance_allow": ["127.0.0.1"], "nginx_proxy_maintenance_retry_after": 120})


def from_elsewhere(host):
    """Status, Retry-After and body of GET / from 127.0.0.2, which the
    allow-list does not name."""
    out = host.check_output(f"curl --silent --include --max-time 5 --interface 127.0.0.2 "
                            f"--header 'Host: {DOMAIN}' http://127.0.0.1/")
    head, _sep, body = out.replace("\r\n", "\n").partition("\n\n")
    retry = re.search(r"(?im)^retry-after: *([0-9]+)", head)
    return int(head.split()[1]), retry.group(1) if retry else None, body


def main_pid(host):
    return host.check_output("systemctl show -p MainPID --value hello.service")


@pytest.mark.usefixtures("converged_app")
def test_maintenance_on_then_off_loses_no_request_of_the_allow_list(host, run_playbook, background_requests, record):
    pid = main_pid(host)
    stop = background_requests(DOMAIN)
    try:
        on = run_playbook(MAINTENANCE, "-e", "maintenance=on", "-e", ALLOW)
        assert on.rc == 0, on.output[-3000:]
        status, retry, body = from_elsewhere(host)
        assert (status, retry) == (503, "120") and "Down for maintenance" in body, body
        allowed = host.check_output(f"curl --silent --fail --max-time 5 --header 'Host: {DOMAIN}' http://127.0.0.1/")
        assert "release" in json.loads(allowed)
    finally:
        off = run_playbook(MAINTENANCE, "-e", "maintenance=off", "-e", ALLOW)
        report = stop()
    record("maintenance.yml on, then off: requests from the allow-listed client through nginx",
           host.backend.get_hostname(), sent=report["sent"], failed=report["failed"])
    assert off.rc == 0, off.output[-3000:]
    assert from_elsewhere(host)[0] == 200
    assert report["sent"] > 0 and report["failed"] == 0, report
    assert main_pid(host) == pid, "the application was not touched"
    again = run_playbook(MAINTENANCE, "-e", "maintenance=off", "-e", ALLOW)
    assert again.rc == 0 and again.changed == 0, again.output[-3000:]


def test_an_unknown_switch_is_refused_before_anything_changes(run_playbook):
    run = run_playbook(MAINTENANCE, "-e", "maintenance=maybe")
    assert run.rc != 0 and "maintenance must be one of on, off" in run.output, run.output[-3000:]
    assert "Switch each application's site" not in run.output
