"""Helpers shared by the scenarios' testinfra tests."""

import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner


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
        head, _ignored, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
        status_line, *lines = head.splitlines()
        headers = {}
        for line in lines:
            name, _ignored, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Response(0, int(status_line.split()[1]), headers, body)

    return get


class PlaybookRun(NamedTuple):
    rc: int
    output: str  # stdout and stderr
    changed: int | None  # this host's "changed=" in the recap


def ansible_playbook(playbook, *args):
    """Run a playbook from the controller as a user would: (rc, output).

    Uses the scenario's own inventory and Ansible settings (Molecule passes
    them to the verifier in the environment).
    """
    # Plain text whatever the caller's terminal: no colours, no wrapping.
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", COLUMNS="500")
    result = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook), *args],
        capture_output=True, text=True, timeout=900, env=env, check=False,
    )
    return result.returncode, re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


def start_playbook(playbook, *args):
    """Start a playbook as ansible_playbook() runs it, in the background: the
    Popen, whose stdout (stderr joined) a test reads line by line."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", COLUMNS="500",
               PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(playbook), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def recap_changed(output, name):
    """A host's "changed=" in the play recap, or None when it is not there."""
    recap = re.search(rf"^{re.escape(name)}\s*:\s*ok=\d+\s+changed=(\d+)", output, re.M)
    return int(recap.group(1)) if recap else None


@pytest.fixture
def run_playbook(host):
    """Run a playbook against this host only (--limit)."""

    def run(playbook, *args):
        name = host.backend.get_hostname()
        rc, output = ansible_playbook(playbook, "--limit", name, *args)
        return PlaybookRun(rc, output, recap_changed(output, name))

    return run


@pytest.fixture(scope="session")
def fleet():
    """Every test host of the scenario by name, reached with podman exec.

    For tests that act on all hosts at once (one playbook run for all of
    them) and then check each: faster than one run per host.
    """
    names = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("all")
    return {name: testinfra.get_host(f"podman://{name}") for name in sorted(names)}


@pytest.fixture(scope="session")
def commit(fleet):
    """``commit(ref)``: the commit a ref names in the hello example's repository,
    as the scenario's prepare published it on the test hosts."""
    any_host = next(iter(fleet.values()))

    def rev_parse(ref):
        return any_host.check_output(f"git -C /srv/git/hello.git rev-parse {ref}^{{commit}}")
    return rev_parse


class FleetRun(NamedTuple):
    rc: int
    output: str
    changed: dict  # host name: its "changed=" in the recap


@pytest.fixture(scope="session")
def run_playbook_on_fleet(fleet):
    """Run a playbook against every test host at once."""

    def run(playbook, *args):
        rc, output = ansible_playbook(playbook, *args)
        return FleetRun(rc, output, {name: recap_changed(output, name) for name in fleet})

    return run


# The hello example's root, where every scenario deploys it.
HELLO_ROOT = "/srv/hello"


def live(host, root=HELLO_ROOT):
    """The release ROOT/current points at, as a full path."""
    return host.file(f"{root}/current").linked_to


def main_pid(host, unit="hello.service"):
    """UNIT's main process as systemd knows it: its PID, 0 when it has none."""
    return int(host.check_output(f"systemctl show --property MainPID --value {unit}"))


def deploy_history(host, root=HELLO_ROOT):
    """ROOT/history.json: the deploys that made a release live, oldest first
    (each a release, the version it was deployed as and when)."""
    history = host.file(f"{root}/history.json")
    return json.loads(history.content_string) if history.exists else []


def env_file(host, path):
    """The variables an environment file written by flask_app sets: {name: value}."""
    pairs = re.findall(r'^([A-Za-z_][A-Za-z0-9_]*)="(.*)"$', host.file(path).content_string, re.M)
    return {name: re.sub(r"\\(.)", r"\1", value) for name, value in pairs}


@pytest.fixture(scope="session")
def app_hosts(fleet):
    """The hosts hello is deployed on: the inventory's "app" group, or every
    host of a scenario that has no such group."""
    names = AnsibleRunner.get_runner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts("app")
    return {name: fleet[name] for name in names} or fleet


@pytest.fixture(scope="session")
def make_live(app_hosts, commit, run_playbook_on_fleet):
    """``make_live(playbook, version, **variables)``: VERSION of hello live on
    every application host, for a test that starts from it. Unless it
    already is, runs PLAYBOOK on every host with flask_app_version=VERSION
    and VARIABLES, and checks that it went live."""

    def make(playbook, version, **variables):
        release = f"{HELLO_ROOT}/releases/{commit(version)}"
        if all(live(host) == release for host in app_hosts.values()):
            return
        run = run_playbook_on_fleet(playbook, "-e", json.dumps({**variables, "flask_app_version": version}))
        assert run.rc == 0, run.output[-3000:]
        for name, host in app_hosts.items():
            assert live(host) == release, (name, run.output[-3000:])

    return make


@pytest.fixture
def converged_app(app_hosts, commit, run_playbook_on_fleet):
    """hello as the scenario's converge (playbooks/site.yml with the
    inventory's settings) leaves it on every application host: the
    inventory's flask_app_version live and the last deploy recorded, its
    environment file holding flask_app_env and flask_app_secret_env alone.
    Runs site.yml first when a host differs."""
    inventory = AnsibleRunner.get_runner(os.environ["MOLECULE_INVENTORY_FILE"])

    def as_converged(name, host):
        wanted = inventory.get_variables(name)
        release = commit(wanted["flask_app_version"])
        env = {key: str(value) for key, value in
               {**wanted.get("flask_app_env", {}), **wanted.get("flask_app_secret_env", {})}.items()}
        history = deploy_history(host)
        return (live(host) == f"{HELLO_ROOT}/releases/{release}" and history and history[-1]["release"] == release
                and env_file(host, f"{HELLO_ROOT}/shared/hello.env") == env)

    if all(as_converged(name, host) for name, host in app_hosts.items()):
        return
    run = run_playbook_on_fleet(Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "playbooks" / "site.yml")
    assert run.rc == 0, run.output[-3000:]
    for name, host in app_hosts.items():
        assert as_converged(name, host), (name, run.output[-3000:])


REPORT_FILE, STOP_FILE = "/tmp/request-loop.json", "/tmp/request-loop.stop"


# Bounds of every request loop: enough for the longest change a test
# watches, and stop() checks the loop was still running when it ended.
LOOP_LIMIT, LOOP_SECONDS = 20000, 900


def still_running(report):
    """A loop stopped by the test (not by its own bounds) watched the whole change."""
    assert report.get("ended") == "until", f"the request loop stopped before the change ended: {report}"
    return report


def start_request_loop(host, host_header, interval=0.05, limit=LOOP_LIMIT, url="http://127.0.0.1/", cafile=None):
    """Start testbed/request_loop.py on HOST in the background; return stop().

    It sends GET requests to ``url`` (on the test host's loopback) with that
    Host header (None: the URL's), one after the other, ``interval`` seconds
    apart, at most ``limit`` of them. ``stop()`` ends the loop and returns its
    report: requests sent and failed, the first errors, and the latency
    (p50_ms, p99_ms, max_ms, slow: how many took a second or more). An
    https:// URL is checked against ``cafile``, the Host header as SNI. The
    scenario's prepare installs the script at /usr/local/bin/request_loop.py.
    The report says why the loop ended: stop() fails unless the test ended it.
    """
    host.run_expect([0], f"rm -f {REPORT_FILE} {STOP_FILE}")
    header = f"--host {host_header}" if host_header else ""
    if cafile:
        header += f" --cafile {cafile}"
    host.run(f"nohup /usr/local/bin/request_loop.py {url} nginx.service "
             f"--restarts 0 --count {limit} --max-seconds {LOOP_SECONDS} --interval {interval} --timeout 10 "
             f"{header} --until {STOP_FILE} > {REPORT_FILE} 2>&1 &")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and host.run("pgrep -f request_loop.py").rc != 0:
        time.sleep(0.2)

    def stop(wait=60):
        host.run_expect([0], f"touch {STOP_FILE}")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not host.file(REPORT_FILE).content_string.strip():
            time.sleep(0.5)
        return still_running(json.loads(host.file(REPORT_FILE).content_string))

    return stop


def start_local_request_loop(url, host_header, interval=0.05, limit=LOOP_LIMIT, timeout=10):
    """start_request_loop, run on this machine against a port a test host
    publishes on 127.0.0.1 (the request path a user's browser takes)."""
    script = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "testbed", "request_loop.py")
    stop_file = os.path.join(tempfile.mkdtemp(prefix="request-loop."), "stop")
    loop = subprocess.Popen(
        ["python3", script, url, "-", "--restarts", "0", "--count", str(limit), "--max-seconds", str(LOOP_SECONDS),
         "--interval", str(interval), "--timeout", str(timeout), "--until", stop_file]
        + (["--host", host_header] if host_header else []),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(wait=60):
        with open(stop_file, "w"):
            pass
        out, err = loop.communicate(timeout=wait + timeout)
        if loop.returncode != 0:
            raise RuntimeError(f"request_loop.py failed: {err}")
        return still_running(json.loads(out))

    return stop


@pytest.fixture
def local_request_loop():
    """start_local_request_loop, as a fixture."""
    return start_local_request_loop


@pytest.fixture
def request_loop():
    """start_request_loop, for a test that picks the host it runs on."""
    return start_request_loop


@pytest.fixture
def background_requests(host):
    """start_request_loop on this host: ``start(host_header, ...)`` returns stop()."""

    def start(host_header, **options):
        stop = start_request_loop(host, host_header, **options)

        def stop_after_a_second():
            time.sleep(1)  # requests after the change, too
            return stop()

        return stop_after_a_second

    return start


@pytest.fixture
def fleet_requests(fleet):
    """start_request_loop on every host: ``start(host_header)`` returns stop(),
    which returns each host's report by name."""

    def start(host_header, **options):
        stops = {name: start_request_loop(host, host_header, **options) for name, host in fleet.items()}

        def stop():
            time.sleep(1)
            return {name: one() for name, one in stops.items()}

        return stop

    return start


@pytest.fixture(scope="session")
def record():
    """``record(check, host, **figures)``: keep a measured figure of this run
    (requests sent and failed, seconds to recover) in
    .testbed/results/<scenario>.jsonl, which docs/security.md quotes."""
    folder = os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], ".testbed", "results")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, os.environ["MOLECULE_SCENARIO_NAME"] + ".jsonl")

    def keep(check, host, **figures):
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"check": check, "host": host, **figures,
                                     "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")
    return keep


def seconds_until_answered(host, command, timeout=30.0):
    """Run COMMAND on HOST every 0.1 s until it succeeds: the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if host.run(command).rc == 0:
            return round(time.monotonic() - started, 2)
        time.sleep(0.1)
    raise AssertionError(f"{command!r} did not succeed within {timeout} s")


@pytest.fixture
def recovery_time():
    """seconds_until_answered, as a fixture."""
    return seconds_until_answered


# The sandbox scores the roles promise (systemd-analyze security, 0 to 10).
GUNICORN_EXPOSURE_TARGET = 2.0
NGINX_EXPOSURE_TARGET = 5.0


def exposure(host, unit):
    """systemd-analyze's overall exposure score of UNIT on HOST (0 is best)."""
    report = host.check_output(f"systemd-analyze security --no-pager {unit}")
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", report)
    assert found, report
    return float(found.group(1))


def refused_by_nginx(fleet, run_playbook_on_fleet, fleet_requests, playbook, site, files, overrides, said):
    """PLAYBOOK with OVERRIDES, a setting nginx -t refuses, under a request
    loop to SITE on every host: the run stops with nginx's words (SAID among
    them), every one of FILES is byte-identical afterwards with no backup
    left beside it, nginx -t passes, and no request failed. Returns the
    loops' reports."""
    before = {name: {path: host.file(path).sha256sum for path in files} for name, host in fleet.items()}
    # A request every 0.1 s across the whole failed run and after it.
    requests = fleet_requests(site, interval=0.1)
    run = run_playbook_on_fleet(playbook, "-e", json.dumps(overrides))
    reports = requests()
    print(f"requests during the refused run: {reports}")
    assert run.rc != 0
    assert "nginx -t refused the new configuration" in run.output
    assert said in run.output
    for name, host in fleet.items():
        assert {path: host.file(path).sha256sum for path in files} == before[name]
        assert not host.run("ls /etc/nginx/sites-available/*~ /etc/nginx/*~ 2>/dev/null").stdout
        assert host.run("nginx -t").rc == 0
        assert reports[name]["sent"] >= 50
        assert reports[name]["failed"] == 0, reports[name]["errors"]
    return reports
