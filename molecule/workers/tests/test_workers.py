"""Workers (flask_app_processes) and scheduled jobs (flask_app_timers) from
the live release, on the whole stack.

The example's worker (hello_worker.py) runs the jobs the site enqueues
(POST /jobs, an RQ queue in the host's Redis) and its scheduled job
(hello_tick.py) notes each run; GET /jobs/<id> and GET /ticks answer,
through nginx, with the release that ran each. One deploy with both makes
the state every test reads (``running``); a test that changes it (a
deploy, a rollback, a process left out) checks against what is live, and
puts back what it took away. The last deploy leaves them out again.
"""

import json
import os
import time
from pathlib import Path

import pytest
from conftest import GUNICORN_EXPOSURE_TARGET, ansible_playbook, exposure, live, recap_changed, start_playbook

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
DEPLOY = PROJECT / "playbooks" / "deploy.yml"
ROLLBACK = PROJECT / "playbooks" / "rollback.yml"
DOMAIN = "hello.test"
ROOT = "/srv/hello"
SECRETS = {"SECRET_KEY": "site-scenario-secret"}
ENV = {"HELLO_TRUSTED_HOPS": "1"}
UNITS = "/etc/systemd/system"
WORKERS = {"jobs": {"command": "python hello_worker.py", "count": 2, "stop_timeout": 60}}
# Every 3 seconds, a job of 4: without the timer's guard, runs would overlap.
TIMERS = {"tick": {"command": "python hello_tick.py 4", "on_calendar": "*:*:0/3"}}
SETTLE = 2


def deploy_args(version, processes=None, timers=None, **more):
    return ["-e", json.dumps({"flask_app_version": version, "flask_app_env": ENV, "flask_app_secret_env": SECRETS,
                              "flask_app_processes": WORKERS if processes is None else processes,
                              "flask_app_timers": TIMERS if timers is None else timers,
                              "flask_app_process_settle": SETTLE, **more})]


def through_nginx(host, method, path):
    return json.loads(host.check_output(f"curl --silent --fail --max-time 5 --request {method} "
                                        f"--header 'Host: {DOMAIN}' http://127.0.0.1{path}"))


def served(host):
    return through_nginx(host, "GET", "/")["release"]


def other_than(version):
    return "v3" if version == "v2" else "v2"


def enqueue(host, seconds=0):
    return through_nginx(host, "POST", f"/jobs?seconds={seconds}")["id"]


def wait_for_job(host, job_id, state="done", timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = through_nginx(host, "GET", f"/jobs/{job_id}")
        if found["state"] == state:
            return found
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never got to {state}: {found}")


def ticks_since(host, since, count, timeout=60):
    """The scheduled job's runs that started after SINCE (host time), once there are COUNT."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [tick for tick in through_nginx(host, "GET", "/ticks")["ticks"] if tick["started"] >= since]
        if len(found) >= count:
            return found
        time.sleep(1)
    raise AssertionError(f"the scheduled job ran {len(found)} times since {since}, not {count}")


def host_time(host):
    return float(host.check_output("date +%s.%N"))


def instances(host):
    """The running instances of hello-jobs, with the release each runs (its
    launcher notes it in the instance's runtime folder)."""
    names = host.check_output("systemctl list-units --plain --no-legend --state=running 'hello-jobs@*.service' "
                              "| awk '{print $1}'").split()
    return {name: host.check_output(f"cat /run/{name.removesuffix('.service').replace('@', '-')}/release")
            for name in names}


def each_instance_runs(release):
    return {f"hello-jobs@{index}.service": release for index in (1, 2)}


@pytest.fixture(scope="module")
def deploy(host):
    """``deploy(version, ...)``: deploy.yml with the workers and the timer
    (or those given), which must succeed."""
    def run(version, *more, playbook=DEPLOY, **variables):
        rc, output = ansible_playbook(playbook, "--limit", host.backend.get_hostname(),
                                      *deploy_args(version, **variables), *more)
        assert rc == 0, output[-3000:]
        return output
    return run


@pytest.fixture(scope="module")
def running(host, deploy):
    """v2 live with two workers and the timer; afterwards, neither."""
    deploy("v2")
    yield
    deploy("v3", processes={}, timers={})


def test_a_job_enqueued_through_the_site_is_run_by_a_worker_of_the_live_release(host, running):
    del running
    release, version = live(host), served(host)
    assert instances(host) == each_instance_runs(release)
    assert all(host.service(name).is_enabled for name in each_instance_runs(release))
    shown = host.check_output("systemctl show --property User,NoNewPrivileges,ProtectSystem,KillMode "
                              "hello-jobs@1.service")
    assert set(shown.split()) >= {"User=hello", "NoNewPrivileges=yes", "ProtectSystem=strict", "KillMode=mixed"}
    score = exposure(host, "hello-jobs@1.service")
    print(f"systemd-analyze security hello-jobs@1.service: {score}")
    assert score <= GUNICORN_EXPOSURE_TARGET, "a worker is sandboxed as gunicorn is"

    done = [wait_for_job(host, enqueue(host)) for _attempt in range(4)]
    assert {job["release"] for job in done} == {version}
    assert {job["folder"] for job in done} == {release}


def test_a_scheduled_job_runs_from_the_live_release_one_run_at_a_time(host, running):
    del running
    ticks = ticks_since(host, host_time(host), 3)
    assert {tick["release"] for tick in ticks} == {served(host)}
    for earlier, later in zip(ticks, ticks[1:]):
        assert later["started"] >= earlier["finished"], f"runs overlapped: {earlier} {later}"
    timer = host.service("hello-tick.timer")
    assert timer.is_enabled and timer.is_running
    shown = host.check_output("systemctl show --property User,NoNewPrivileges,ProtectSystem hello-tick.service")
    assert set(shown.split()) >= {"User=hello", "NoNewPrivileges=yes", "ProtectSystem=strict"}
    assert exposure(host, "hello-tick.service") <= GUNICORN_EXPOSURE_TARGET
    assert "Deactivated successfully" in host.check_output("journalctl --unit hello-tick.service --no-pager")


def test_a_deploy_that_changes_nothing_reports_no_change(host, running, deploy):
    del running
    output = deploy(served(host))
    assert recap_changed(output, host.backend.get_hostname()) == 0, output[-3000:]


def test_a_deploy_while_a_slow_job_runs_lets_it_finish_on_the_old_code(
        host, running, commit, background_requests, record):
    del running
    old = served(host)
    new = other_than(old)
    stop = background_requests(DOMAIN)
    play = start_playbook(DEPLOY, "--limit", host.backend.get_hostname(), *deploy_args(new))
    output = []
    try:
        for line in play.stdout:
            output.append(line)
            if line.startswith("TASK [Move the workers to it]"):
                break
        # The web process is live on the new release; the workers still run the
        # old one, and one takes this job before the deploy stops it.
        slow = enqueue(host, seconds=8)
        wait_for_job(host, slow, state="running", timeout=10)
        queued = [enqueue(host) for _attempt in range(3)]
        output.extend(play.stdout)
        play.wait(timeout=600)
    finally:
        # A failure above must not leave the deploy holding the lock.
        if play.poll() is None:
            play.kill()
            play.wait()
    report = stop()
    record("deploy while a worker runs an 8 s job: requests through nginx", host.backend.get_hostname(),
           sent=report["sent"], failed=report["failed"])
    print(f"requests through nginx: {report}")
    assert play.returncode == 0, "".join(output)[-3000:]

    finished = wait_for_job(host, slow)
    assert finished["release"] == old, finished
    assert finished["finished"] - finished["started"] >= 8, "the job ran to its end"
    later = [wait_for_job(host, job_id) for job_id in queued] + [wait_for_job(host, enqueue(host))]
    assert all(job["state"] == "done" for job in later), "no job is lost"
    assert later[-1]["release"] == new
    assert instances(host) == each_instance_runs(f"{ROOT}/releases/{commit(new)}")
    assert {tick["release"] for tick in ticks_since(host, host_time(host), 1)} == {new}
    assert report["sent"] > 20 and report["failed"] == 0, report["errors"]


def test_a_worker_that_cannot_start_sends_the_whole_app_back(
        host, running, run_playbook, background_requests, record):
    del running
    release, version = live(host), served(host)
    stop = background_requests(DOMAIN)
    refused = run_playbook(DEPLOY, *deploy_args("worker-fails"))
    report = stop()
    record("a worker that cannot start on the new release: requests through nginx", host.backend.get_hostname(),
           sent=report["sent"], failed=report["failed"])
    print(f"requests through nginx: {report}")
    assert refused.rc != 0
    assert "hello-jobs@1.service did not stay up" in refused.output, refused.output[-3000:]
    assert "this worker cannot start, on purpose" in refused.output
    assert f"rolled back to {release}" in refused.output, refused.output[-3000:]
    assert live(host) == release and served(host) == version
    assert instances(host) == each_instance_runs(release)
    assert wait_for_job(host, enqueue(host))["release"] == version
    assert host.service("hello-tick.timer").is_running, "the timer runs again"
    assert report["sent"] > 20 and report["failed"] == 0, report["errors"]


def test_rollback_moves_the_workers_back(host, running, deploy):
    del running
    before = served(host)
    deploy(other_than(before))
    deploy(before, playbook=ROLLBACK)
    assert served(host) == before
    assert instances(host) == each_instance_runs(live(host))
    assert wait_for_job(host, enqueue(host))["release"] == before


def test_a_process_left_out_and_the_jobs_of_another_server_are_stopped_and_removed(host, running, deploy):
    """No worker asked for, and the scheduled jobs on another server
    (flask_app_timer_host): this one keeps neither, units and all."""
    del running
    version = served(host)
    # Another server of the inventory (an inventory of one name), never contacted: --limit.
    deploy(version, "-i", "another-server,", processes={}, flask_app_timer_host="another-server")
    assert instances(host) == {}
    for unit in ("hello-jobs@.service", "hello-tick.timer", "hello-tick.service",
                 "multi-user.target.wants/hello-jobs@1.service", "timers.target.wants/hello-tick.timer"):
        assert not host.file(f"{UNITS}/{unit}").exists, unit
    assert not host.service("hello-tick.timer").is_running
    deploy(version)
    assert instances(host) == each_instance_runs(live(host))
    assert host.service("hello-tick.timer").is_running
