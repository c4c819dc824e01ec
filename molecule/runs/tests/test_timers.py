"""Scheduled jobs (flask_app_timers) from the live release, on the whole
stack: the example's job (hello_tick.py) notes each run and its release,
which GET /ticks answers with through nginx."""

import json
import os
import time
from pathlib import Path

import pytest

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
DEPLOY = PROJECT / "playbooks" / "deploy.yml"
DOMAIN = "hello.test"
SECRETS = {"SECRET_KEY": "site-scenario-secret"}
ENV = {"HELLO_TRUSTED_HOPS": "1"}
UNITS = ("/etc/systemd/system/hello-tick.timer", "/etc/systemd/system/hello-tick.service")
# Every 3 seconds, a job of 5: without the timer's guard, runs would overlap.
TICK = {"tick": {"command": "python hello_tick.py 5", "on_calendar": "*:*:0/3"}}


def deploy_args(version, timers=None, **more):
    return ["-e", json.dumps({"flask_app_version": version, "flask_app_env": ENV, "flask_app_secret_env": SECRETS,
                              "flask_app_timers": timers or {}, **more})]


def ticks_since(host, since):
    body = host.check_output(f"curl --silent --fail --max-time 5 --header 'Host: {DOMAIN}' http://127.0.0.1/ticks")
    return [tick for tick in json.loads(body)["ticks"] if tick["started"] >= since]


def wait_for_ticks(host, since, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ticks_since(host, since)
        if len(found) >= count:
            return found
        time.sleep(1)
    raise AssertionError(f"the job ran {len(found)} times, not {count}")


def host_time(host):
    return float(host.check_output("date +%s.%N"))


@pytest.fixture
def deploy(run_playbook):
    def run(version, timers=None, **more):
        done = run_playbook(DEPLOY, *deploy_args(version, timers, **more))
        assert done.rc == 0, done.output[-3000:]
        return done
    yield run
    run("v3")


def test_a_scheduled_job_runs_from_the_live_release_one_run_at_a_time(host, deploy):
    deploy("v2", TICK)
    since = host_time(host)
    ticks = wait_for_ticks(host, since, 3)
    assert {tick["release"] for tick in ticks} == {"v2"}
    for earlier, later in zip(ticks, ticks[1:]):
        assert later["started"] >= earlier["finished"], f"runs overlapped: {earlier} {later}"
    assert host.service("hello-tick.timer").is_enabled and host.service("hello-tick.timer").is_running
    shown = host.check_output("systemctl show --property User,NoNewPrivileges,ProtectSystem hello-tick.service")
    assert set(shown.split()) >= {"User=hello", "NoNewPrivileges=yes", "ProtectSystem=strict"}
    assert "Deactivated successfully" in host.check_output("journalctl --unit hello-tick.service --no-pager")

    again = deploy("v2", TICK)
    assert again.changed == 0, again.output[-3000:]

    deploy("v3", TICK)
    since = host_time(host)
    assert {tick["release"] for tick in wait_for_ticks(host, since, 2)} == {"v3"}


def test_a_scheduled_job_runs_on_the_timer_host_only_and_goes_when_left_out(host, deploy):
    deploy("v3", TICK)
    assert all(host.file(unit).exists for unit in UNITS)
    deploy("v3", TICK, flask_app_timer_host="another-server")
    assert not any(host.file(unit).exists for unit in UNITS)
    deploy("v3", TICK)
    assert host.service("hello-tick.timer").is_running
    deploy("v3")
    assert not any(host.file(unit).exists for unit in UNITS)
    assert not host.service("hello-tick.timer").is_running
