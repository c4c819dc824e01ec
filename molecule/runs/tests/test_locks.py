"""Two runs at once, and runs that die: the application's lock on the host.

Each test deploys what it needs first, then watches the site through nginx
with a request loop while two deploys start a second apart, while a lock
taken by hand holds a deploy back, and while deploys are killed at several
points (ansible-playbook alone, whose keeper then releases the lock; or the
whole controller, whose lock goes stale and is taken over). Every time: 0
failed requests, gunicorn serving the release ``current`` names, and the
next run completing by itself.
"""

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import live, start_playbook

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
DEPLOY = PROJECT / "playbooks" / "deploy.yml"
LOCK = PROJECT / "playbooks" / "lock.yml"
DOMAIN = "hello.test"
ROOT = "/srv/hello"
LOCK_FILE = "/var/lib/flaskops/locks/hello.json"
SECRETS = {"SECRET_KEY": "site-scenario-secret"}
ENV = {"HELLO_TRUSTED_HOPS": "1"}


def deploy_args(version, **more):
    return ["-e", json.dumps({"flask_app_version": version, "flask_app_env": ENV,
                              "flask_app_secret_env": SECRETS, **more})]


def served_release(host):
    body = host.check_output(f"curl --silent --fail --max-time 5 --header 'Host: {DOMAIN}' http://127.0.0.1/")
    return json.loads(body)["release"]


def assert_consistent(host, commit, version):
    """current names the release deployed as VERSION, and gunicorn serves it
    (its master tells systemd which release it serves)."""
    assert live(host) == f"{ROOT}/releases/{commit(version)}"
    assert served_release(host) == version
    status = host.check_output("systemctl show --property StatusText --value hello.service")
    assert status == f"Serving {ROOT}/releases/{commit(version)}"


def assert_no_request_failed(report):
    print(f"requests through nginx: {report}")
    assert report["sent"] > 20, report
    assert report["failed"] == 0, report["errors"]


@pytest.fixture
def deployed(host, run_playbook):
    """``deployed(version)``: make VERSION live, as a deploy does."""
    def deploy(version):
        run = run_playbook(DEPLOY, *deploy_args(version))
        assert run.rc == 0, run.output[-3000:]
    return deploy


def drained(play):
    """Read PLAY's output as it comes, in a thread: a run whose output nobody
    reads blocks once the pipe is full, holding its lock. Returns a function
    that gives the output once the run has ended."""
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(play.stdout), daemon=True)
    reader.start()

    def output():
        reader.join(timeout=60)
        return "".join(lines)
    return output


def wait_for_lock(host, timeout=20, version=None):
    """The lock, once a run holds it (the run deploying VERSION, if given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = host.run(f"cat {LOCK_FILE}")
        if found.rc == 0:
            lock = json.loads(found.stdout)
            if version is None or lock["holder"].get("version") == version:
                return lock
        time.sleep(0.2)
    raise AssertionError(f"no run took the lock (waiting for the one of {version})" if version else "no run took the lock")


def test_two_deploys_a_second_apart_run_one_after_the_other(
        host, deployed, background_requests, commit, record):
    deployed("v1")
    stop = background_requests(DOMAIN)
    first = start_playbook(DEPLOY, "--limit", host.backend.get_hostname(), *deploy_args("v2"))
    first_out = drained(first)
    # The first run holds the lock before the second starts, so which one
    # waits does not depend on how fast each ansible-playbook starts.
    wait_for_lock(host, timeout=180, version="v2")
    time.sleep(1)
    second = start_playbook(DEPLOY, "--limit", host.backend.get_hostname(), *deploy_args("v3"))
    second_out = drained(second)
    first.wait(timeout=900)
    second.wait(timeout=900)
    first_out, second_out = first_out(), second_out()
    report = stop()
    record("two deploys started one second apart: requests through nginx", host.backend.get_hostname(),
           sent=report["sent"], failed=report["failed"])
    assert first.returncode == 0, first_out[-3000:]
    assert second.returncode == 0, second_out[-3000:]
    assert "waiting up to 300 s (flaskops_lock_wait) for the lock of hello, held by" in second_out, second_out[-3000:]
    assert "deploy.yml, version v2" in second_out
    assert_no_request_failed(report)
    assert_consistent(host, commit, "v3")
    assert not host.file(LOCK_FILE).exists, "both runs released the lock"
    # nginx keeps the static files of v3 and of v2 before it (v1's went), and
    # serves v2's own stylesheet to a page of v2 loaded before the last deploy.
    store = "/var/www/flaskops-static/hello"
    assert host.file(f"{store}/current").linked_to.endswith(commit("v3"))
    assert host.file(f"{store}/previous").linked_to.endswith(commit("v2"))
    assert not host.file(f"{store}/{commit('v1')}").exists
    for name, status in (("app-v3.css", "200"), ("app-v2.css", "200"), ("app-v1.css", "404")):
        answer = host.run(f"curl --silent --output /dev/null --write-out '%{{http_code}}' --max-time 5 "
                          f"--header 'Host: {DOMAIN}' http://127.0.0.1/static/{name}")
        assert answer.stdout == status, name


def test_a_lock_taken_by_hand_holds_deploys_back_until_it_is_released(
        host, deployed, run_playbook, commit):
    deployed("v1")
    message = f"database upgrade {uuid.uuid4().hex[:8]}"
    taken = run_playbook(LOCK, "-e", "flaskops_lock=acquire", "-e", json.dumps({"flaskops_lock_message": message}))
    assert taken.rc == 0, taken.output[-3000:]
    try:
        status = run_playbook(LOCK)
        assert status.rc == 0 and message in status.output, status.output[-3000:]
        assert "lock.yml" in status.output and "until released with playbooks/lock.yml" in status.output

        refused = run_playbook(DEPLOY, *deploy_args("v2", flaskops_lock_wait=4))
        assert refused.rc != 0
        assert "Another run holds the lock of hello" in refused.output, refused.output[-3000:]
        assert message in refused.output
        assert "Waited 4 s (flaskops_lock_wait); nothing was changed" in refused.output
        assert refused.changed == 0
        assert_consistent(host, commit, "v1")
    finally:
        released = run_playbook(LOCK, "-e", "flaskops_lock=release")
    assert released.rc == 0, released.output[-3000:]
    assert not host.file(LOCK_FILE).exists
    assert run_playbook(DEPLOY, *deploy_args("v2")).rc == 0
    assert_consistent(host, commit, "v2")


def start_deploy_and_kill(host, version, after_task, controller_lost=False):
    """Deploy VERSION and SIGKILL it once AFTER_TASK has run: ansible-playbook
    alone, or (CONTROLLER_LOST) every process of the run, its lock's keeper
    included. Returns the output up to the kill."""
    marker = uuid.uuid4().hex
    play = start_playbook(DEPLOY, "--limit", host.backend.get_hostname(),
                          *deploy_args(version, flaskops_test_run=marker))
    seen, output = False, []
    for line in play.stdout:
        output.append(line)
        if line.startswith("TASK [") and after_task in line:
            seen = True
        elif seen and line.startswith("TASK ["):
            break
    assert seen, "".join(output)[-3000:]
    if controller_lost:
        subprocess.run(["pkill", "--signal", "KILL", "--full", marker], check=False)
    else:
        os.kill(play.pid, signal.SIGKILL)
    play.wait(timeout=60)
    return "".join(output)


KILL_POINTS = [
    # after the release is checked out, before its virtualenv is built
    ("flaskops.stack.flask_app : Check out the release", "v2", False),
    # while the release runs beside the live one
    ("flaskops.stack.gunicorn : Start the release beside the live service", "v3", False),
    # after current moved, before gunicorn was handed over: the controller
    # is lost, keeper and all
    ("flaskops.stack.common : Point the link at the release", "v2", True),
]


@pytest.mark.parametrize(("task", "version", "controller_lost"), KILL_POINTS,
                         ids=["after-checkout", "during-gate", "after-switch-controller-lost"])
def test_a_killed_deploy_leaves_a_consistent_site_and_the_next_run_completes(
        host, deployed, background_requests, commit, record, task, version, controller_lost):
    deployed("v1")
    stop = background_requests(DOMAIN)
    start_deploy_and_kill(host, version, task, controller_lost)
    killed_at = time.monotonic()
    if controller_lost:
        lock = wait_for_lock(host)
        assert lock["holder"]["playbook"] == "deploy.yml"
    else:
        # The run's keeper releases the lock once ansible-playbook is gone.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and host.file(LOCK_FILE).exists:
            time.sleep(0.5)
        assert not host.file(LOCK_FILE).exists, "the keeper released the lock of the killed run"
    again = start_playbook(DEPLOY, "--limit", host.backend.get_hostname(), *deploy_args(version))
    out, _ignored = again.communicate(timeout=900)
    report = stop()
    record(f"deploy killed ({'controller lost' if controller_lost else 'SIGKILL'}) after "
           f"'{task.split(' : ')[1]}': requests through nginx until the next run completed",
           host.backend.get_hostname(), sent=report["sent"], failed=report["failed"])
    assert again.returncode == 0, out[-3000:]
    if controller_lost:
        assert "took over the lock of hello from" in out, out[-3000:]
        assert "so it was stale" in out
        # Stale within 2 minutes of the holder's death.
        assert time.monotonic() - killed_at < 120 + 60
    assert_no_request_failed(report)
    assert_consistent(host, commit, version)
    assert host.run("systemctl is-active --quiet hello-gate.service").rc != 0
    assert not host.file(LOCK_FILE).exists
