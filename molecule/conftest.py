"""Helpers shared by the scenarios' testinfra tests."""

import json
import os
import re
import subprocess
import time
from typing import NamedTuple

import pytest


class Response(NamedTuple):
    rc: int  # curl's exit code: 0, or why no answer came (52: closed without a reply)
    status: int | None
    headers: dict
    body: str


@pytest.fixture
def http_get(host):
    """GET a URL with curl on the test host, sending the given Host header."""

    def get(url, host_header, *options):
        result = host.run(
            "curl --silent --show-error --max-time 5 --include "
            f"--header 'Host: {host_header}' " + " ".join(options) + f" '{url}'"
        )
        if result.rc != 0:
            return Response(result.rc, None, {}, result.stderr)
        head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
        status_line, *lines = head.splitlines()
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Response(0, int(status_line.split()[1]), headers, body)

    return get


class PlaybookRun(NamedTuple):
    rc: int
    output: str  # stdout and stderr
    changed: int | None  # this host's "changed=" in the recap


@pytest.fixture
def run_playbook(host):
    """Run a playbook from the controller against this host only, as a user would.

    Uses the scenario's own inventory and Ansible settings (Molecule passes
    them to the verifier in the environment).
    """

    def run(playbook, *args):
        name = host.backend.get_hostname()
        # Plain text whatever the caller's terminal: no colours, no wrapping.
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", COLUMNS="500")
        result = subprocess.run(
            ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", name,
             str(playbook), *args],
            capture_output=True, text=True, timeout=600, env=env,
        )
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
        recap = re.search(rf"^{re.escape(name)}\s*:\s*ok=\d+\s+changed=(\d+)", output, re.M)
        return PlaybookRun(result.returncode, output, int(recap.group(1)) if recap else None)

    return run


@pytest.fixture
def background_requests(host):
    """Start testbed/request_loop.py on the test host, in the background.

    ``start(host_header, count, interval)`` sends ``count`` GET requests to
    http://127.0.0.1/ with that Host header, ``interval`` seconds apart, and
    returns ``collect()``, which waits for the loop to end and returns its
    report (sent, failed, errors). The scenario's prepare installs the script
    at /usr/local/bin/request_loop.py.
    """
    report_file = "/tmp/request-loop.json"

    def start(host_header, count, interval):
        host.run_expect([0], f"rm -f {report_file}")
        host.run(f"nohup /usr/local/bin/request_loop.py http://127.0.0.1/ nginx.service "
                 f"--restarts 0 --count {count} --interval {interval} --timeout 10 "
                 f"--host {host_header} > {report_file} 2>&1 &")

        def collect(wait=count * interval + 60):
            deadline = time.monotonic() + wait
            while (time.monotonic() < deadline
                   and not host.file(report_file).content_string.strip()):
                time.sleep(2)
            return json.loads(host.file(report_file).content_string)

        return collect

    return start
