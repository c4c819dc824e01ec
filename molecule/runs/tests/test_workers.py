"""Workers (flask_app_processes) from the live release, on the whole stack.

Each test deploys the example with its worker (hello_worker.py, which runs
the jobs the site enqueues, from a queue of files in shared/instance) and
reads the jobs' results through nginx: which release ran each job, and
that none was lost. The last deploy of each test leaves the worker out
again, which must stop it and remove its unit.
"""

import json
import os
import time
from pathlib import Path

import pytest
from conftest import live, start_playbook

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
DEPLOY = PROJECT / "playbooks" / "deploy.yml"
ROLLBACK = PROJECT / "playbooks" / "rollback.yml"
DOMAIN = "hello.test"
ROOT = "/srv/hello"
SECRETS = {"SECRET_KEY": "site-scenario-secret"}
ENV = {"HELLO_TRUSTED_HOPS": "1"}
UNIT = "/etc/systemd/system/hello-jobs@.service"


def workers(count=1, stop_timeout=60):
    return {"jobs": {"command": "python hello_worker.py", "count": count, "stop_timeout": stop_timeout}}


def deploy_args(version, processes=None, **more):
    return ["-e", json.dumps({"flask_app_version": version, "flask_app_env": ENV,
                              "flask_app_secret_env": SECRETS,
                              "flask_app_processes": processes or {}, **more})]


def through_nginx(host, method, path):
    out = host.check_output(f"curl --silent --fail --max-time 5 --request {method} "
                            f"--header 'Host: {DOMAIN}' http://127.0.0.1{path}")
    return json.loads(out)


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


def instances(host):
    """The running instances of hello-jobs, with the release each runs (its
    launcher notes it in the instance's runtime folder)."""
    names = host.check_output("systemctl list-units --plain --no-legend --state=running 'hello-jobs@*.service' "
                              "| awk '{print $1}'").split()
    found = {}
    for name in names:
        folder = name.removesuffix(".service").replace("@", "-")
        found[name] = host.check_output(f"cat /run/{folder}/release")
    return found


@pytest.fixture
def deploy(run_playbook):
    def run(version, processes=None, **more):
        done = run_playbook(DEPLOY, *deploy_args(version, processes, **more))
        assert done.rc == 0, done.output[-3000:]
        return done
    return run


@pytest.fixture
def without_workers(deploy):
    """After the test, the worker is left out again: its units go."""
    yield
    deploy("v3")


def test_a_job_enqueued_through_the_site_is_run_by_a_worker_of_the_live_release(
        host, deploy, commit, without_workers):
    del without_workers
    deploy("v2", workers(count=2))
    release = f"{ROOT}/releases/{commit('v2')}"
    assert instances(host) == {"hello-jobs@1.service": release, "hello-jobs@2.service": release}
    for name in ("hello-jobs@1.service", "hello-jobs@2.service"):
        assert host.service(name).is_enabled
    shown = host.check_output("systemctl show --property User,NoNewPrivileges,ProtectSystem,KillMode "
                              "hello-jobs@1.service")
    assert set(shown.split()) >= {"User=hello", "NoNewPrivileges=yes", "ProtectSystem=strict", "KillMode=mixed"}

    done = [wait_for_job(host, enqueue(host)) for _attempt in range(4)]
    assert {job["release"] for job in done} == {"v2"}
    assert {job["folder"] for job in done} == {release}

    again = deploy("v2", workers(count=2))
    assert again.changed == 0, again.output[-3000:]


def test_a_deploy_while_a_slow_job_runs_lets_it_finish_on_the_old_code(
        host, deploy, commit, background_requests, record, without_workers):
    del without_workers
    deploy("v2", workers(count=1, stop_timeout=90))
    stop = background_requests(DOMAIN)
    play = start_playbook(DEPLOY, "--limit", host.backend.get_hostname(),
                          *deploy_args("v3", workers(count=1, stop_timeout=90)))
    output = []
    for line in play.stdout:
        output.append(line)
        if line.startswith("TASK [Move the workers to it]"):
            break
    # The web process is live on v3; the worker still runs v2 and takes this
    # job before the deploy stops it.
    slow = enqueue(host, seconds=15)
    wait_for_job(host, slow, state="running", timeout=10)
    queued = [enqueue(host) for _attempt in range(3)]
    output.extend(play.stdout)
    play.wait(timeout=600)
    report = stop()
    record("deploy while a worker runs a 15 s job: requests through nginx", host.backend.get_hostname(),
           sent=report["sent"], failed=report["failed"])
    print(f"requests through nginx: {report}")
    assert play.returncode == 0, "".join(output)[-3000:]

    finished = wait_for_job(host, slow)
    assert finished["release"] == "v2", finished
    assert finished["finished"] - finished["started"] >= 15, "the job ran to its end"
    later = [wait_for_job(host, job_id) for job_id in queued] + [wait_for_job(host, enqueue(host))]
    assert [job["release"] for job in later] == ["v3"] * 4, later
    assert instances(host) == {"hello-jobs@1.service": f"{ROOT}/releases/{commit('v3')}"}
    assert report["sent"] > 20 and report["failed"] == 0, report["errors"]


def test_a_worker_that_cannot_start_sends_the_whole_app_back(
        host, deploy, run_playbook, commit, background_requests, record, without_workers):
    del without_workers
    deploy("v3", workers())
    stop = background_requests(DOMAIN)
    refused = run_playbook(DEPLOY, *deploy_args("worker-fails", workers()))
    report = stop()
    record("a worker that cannot start on the new release: requests through nginx", host.backend.get_hostname(),
           sent=report["sent"], failed=report["failed"])
    print(f"requests through nginx: {report}")
    assert refused.rc != 0
    assert "hello-jobs@1.service did not stay up" in refused.output, refused.output[-3000:]
    assert "this worker cannot start, on purpose" in refused.output
    assert f"rolled back to {ROOT}/releases/{commit('v3')}" in refused.output, refused.output[-3000:]
    assert live(host) == f"{ROOT}/releases/{commit('v3')}"
    assert through_nginx(host, "GET", "/")["release"] == "v3"
    assert instances(host) == {"hello-jobs@1.service": f"{ROOT}/releases/{commit('v3')}"}
    assert wait_for_job(host, enqueue(host))["release"] == "v3"
    assert report["sent"] > 20 and report["failed"] == 0, report["errors"]


def test_rollback_moves_the_workers_back_and_a_process_left_out_is_removed(host, deploy, run_playbook, commit):
    deploy("v2", workers())
    deploy("v3", workers())
    back = run_playbook(ROLLBACK, *deploy_args("v3", workers()))
    assert back.rc == 0, back.output[-3000:]
    assert instances(host) == {"hello-jobs@1.service": f"{ROOT}/releases/{commit('v2')}"}
    assert wait_for_job(host, enqueue(host))["release"] == "v2"

    deploy("v3")
    assert instances(host) == {}
    assert not host.file(UNIT).exists
    assert not host.file("/etc/systemd/system/multi-user.target.wants/hello-jobs@1.service").exists
