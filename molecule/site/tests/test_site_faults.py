"""Faults on the converged stack: the play killed part-way through a deploy,
and the whole host restarted. Runs after test_site_deploys.py (v2 live).
"""

import json
import os
import signal
import subprocess
import time

from test_site_deploys import BOTH, DEPLOY, DOMAIN, ROOT, SECRETS, SLOW_ENV, assert_no_request_failed, live, served_release


def test_a_deploy_killed_part_way_leaves_the_old_release_serving_and_the_next_run_completes(
        fleet, fleet_requests, run_playbook_on_fleet, commit, record):
    before = {name: live(host) for name, host in fleet.items()}
    variables = json.dumps({"flask_app_version": "v3", "flask_app_env": SLOW_ENV,
                            "flask_app_secret_env": SECRETS, **BOTH})
    requests = fleet_requests(DOMAIN)
    play = subprocess.Popen(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(DEPLOY), "-e", variables],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # Killed while the new release is being checked beside the live one.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and play.poll() is None and not any(
            host.run("systemctl is-active --quiet hello-gate.service").rc == 0 for host in fleet.values()):
        time.sleep(0.2)
    assert play.poll() is None, "the deploy ended before its gate started"
    os.killpg(play.pid, signal.SIGKILL)
    play.wait()
    time.sleep(3)

    reports = requests()
    for name, report in reports.items():
        record("deploy killed (SIGKILL of ansible-playbook) during the gate: requests", name,
               sent=report["sent"], failed=report["failed"])
    assert_no_request_failed(reports)
    for name, host in fleet.items():
        assert live(host) == before[name]

    requests = fleet_requests(DOMAIN)
    again = run_playbook_on_fleet(DEPLOY, "-e", variables)
    reports = requests()
    assert again.rc == 0, again.output[-3000:]
    assert_no_request_failed(reports)
    for host in fleet.values():
        assert live(host) == f"{ROOT}/releases/{commit('v3')}"
        assert served_release(host) == "v3"
        assert host.run("systemctl is-active --quiet hello-gate.service").rc != 0


def test_a_restarted_host_serves_again_on_its_own(fleet, recovery_time, record):
    for name, host in fleet.items():
        started = time.monotonic()
        subprocess.run(["podman", "restart", "--time", "10", name], check=True, capture_output=True)
        restarted = round(time.monotonic() - started, 2)
        seconds = recovery_time(host, f"curl --silent --fail --max-time 1 --output /dev/null "
                                      f"--header 'Host: {DOMAIN}' http://127.0.0.1/", timeout=120)
        record("host restarted (podman restart): seconds from the restart's end until the site answers",
               name, seconds=seconds, restart_seconds=restarted)
        for unit in ("nginx.service", "hello.socket", "hello.service"):
            assert host.run(f"systemctl is-active --quiet {unit}").rc == 0, unit
        assert served_release(host) == "v3"
