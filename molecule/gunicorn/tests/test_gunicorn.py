"""Behaviour of the gunicorn role on a converged host.

Two applications run from the same code: hello on 127.0.0.1:8000 and
hello_unix on a unix socket, each with its own units and configuration.
"""

import json
import os
import time
from pathlib import Path

import pytest
from conftest import GUNICORN_EXPOSURE_TARGET, exposure, main_pid

CONVERGE = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"
EXPOSURE_TARGET = GUNICORN_EXPOSURE_TARGET


def wait_for_new_main_pid(host, old, unit="hello.service", seconds=40):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pid = main_pid(host, unit)
        state = host.check_output(f"systemctl show --property ActiveState --value {unit}")
        if pid not in (0, old) and state == "active":
            return pid
        time.sleep(1)
    raise AssertionError(f"{unit} did not come back within {seconds}s:\n{journal(host, unit)}")


def journal(host, unit):
    return host.run(f"journalctl --unit {unit} --lines 30 --no-pager").stdout


@pytest.fixture
def converged_afterwards(run_playbook_on_fleet):
    """For a test that converges with other settings: the converge's own put
    back once it has run, which the other tests read (workers = 2, ...)."""
    yield
    run = run_playbook_on_fleet(CONVERGE)
    assert run.rc == 0, run.output[-3000:]


@pytest.mark.parametrize("unit", ["hello.socket", "hello.service",
                                  "hello_unix.socket", "hello_unix.service"])
def test_unit_is_enabled_and_active(host, unit):
    service = host.service(unit)
    assert service.is_enabled, journal(host, unit)
    assert service.is_running, journal(host, unit)


def test_listens_on_loopback_8000_only(host):
    listeners = host.check_output("ss -Htln 'sport = :8000'").splitlines()
    local_addresses = {line.split()[3] for line in listeners}
    assert local_addresses == {"127.0.0.1:8000"}


def test_master_and_workers_run_as_the_app_user(host):
    master = main_pid(host)
    assert master != 0, journal(host, "hello.service")
    users = host.check_output(
        f"ps -o user= -p {master} --ppid {master}"
    ).split()
    assert len(users) >= 2, "expected a master and at least one worker"
    assert set(users) == {"hello"}


def test_app_answers_through_the_socket(host):
    body = host.check_output("curl --silent --fail --max-time 5 http://127.0.0.1:8000/")
    assert json.loads(body)["app"] == "hello"


def test_health_path_answers_200(host):
    code = host.check_output(
        "curl --silent --output /dev/null --write-out '%{http_code}' --max-time 5 "
        "http://127.0.0.1:8000/healthz"
    )
    assert code == "200"


@pytest.mark.parametrize(
    "setting",
    ["NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes"],
)
def test_service_is_sandboxed(host, setting):
    key = setting.split("=")[0]
    assert host.check_output(f"systemctl show --property {key} hello.service") == setting


def test_config_file_is_root_owned_and_not_writable_by_the_app(host):
    config = host.file("/etc/gunicorn/hello.conf.py")
    assert config.user == "root"
    assert config.mode == 0o644
    assert "wsgi_app = \"hello:app\"" in config.content_string


def test_config_carries_the_tuning_and_trusts_only_the_local_proxy(host):
    config = host.file("/etc/gunicorn/hello.conf.py").content_string
    assert 'forwarded_allow_ips = "127.0.0.1,::1"' in config
    assert "max_requests = 10000" in config
    assert "max_requests_jitter = 1000" in config
    assert "workers = 2" in config
    assert "accesslog = None" in config, "nginx logs the requests"


def test_config_passes_gunicorn_check_config_as_the_app_user(host):
    result = host.run(
        "systemd-run --quiet --pipe --wait --collect --uid=hello --gid=hello "
        "--working-directory=/srv/hello/current "
        "--property=EnvironmentFile=/srv/hello/shared/hello.env "
        "-- /srv/hello/current/.venv/bin/gunicorn --check-config --config /etc/gunicorn/hello.conf.py")
    assert result.rc == 0, result.stdout + result.stderr


def test_a_config_whose_app_does_not_load_is_refused_by_the_gate(fleet, run_playbook_on_fleet):
    config_before = {name: host.file("/etc/gunicorn/hello.conf.py").sha256sum for name, host in fleet.items()}
    pid_before = {name: main_pid(host) for name, host in fleet.items()}

    run = run_playbook_on_fleet(CONVERGE, "-e", "gunicorn_wsgi_app=hello:no_such_app")

    assert run.rc != 0
    assert "Refused before going live" in run.output, run.output[-3000:]
    assert "did not start" in run.output
    assert "no_such_app" in run.output, "the gate's log says why"
    for name, host in fleet.items():
        assert host.file("/etc/gunicorn/hello.conf.py").sha256sum == config_before[name]
        assert main_pid(host) == pid_before[name]
        assert host.run("systemctl is-active hello-gate.service").stdout.strip() != "active"
        assert not host.file("/run/flaskops/hello.gate.conf.py").exists
        assert host.run("curl --silent --fail --max-time 5 http://127.0.0.1:8000/healthz").rc == 0


SANDBOX_PROPERTIES = (
    "User,Group,NoNewPrivileges,CapabilityBoundingSet,AmbientCapabilities,ProtectSystem,ProtectHome,PrivateTmp,"
    "PrivateDevices,DevicePolicy,PrivateIPC,ProtectClock,ProtectHostname,ProtectKernelTunables,ProtectKernelModules,"
    "ProtectKernelLogs,ProtectControlGroups,ProtectProc,ProcSubset,RestrictNamespaces,RestrictSUIDSGID,"
    "RestrictRealtime,LockPersonality,MemoryDenyWriteExecute,RemoveIPC,RestrictAddressFamilies,"
    "SystemCallArchitectures,SystemCallFilter,SystemCallErrorNumber,UMask,ReadWritePaths")


def test_the_gate_runs_in_the_services_sandbox_as_its_user(fleet, run_playbook_on_fleet, converged_afterwards):
    """Read off the gate itself while it runs (a configuration change opens
    one): every sandbox property, its user and its writable paths are the
    service's."""
    watcher = ("for i in $(seq 1200); do systemctl show hello-gate.service --property ActiveState,"
               f"{SANDBOX_PROPERTIES} > /tmp/gate.props.new 2>/dev/null; "
               "if grep -Eq '^ActiveState=(activating|active)$' /tmp/gate.props.new; then "
               "mv /tmp/gate.props.new /tmp/gate.props; exit 0; fi; sleep 0.05; done\n")
    for host in fleet.values():
        host.run("rm -f /tmp/gate.props")
        host.run_expect([0], f"cat > /tmp/watch-gate.sh <<'SH'\n{watcher}SH")
        host.run("nohup sh /tmp/watch-gate.sh >/dev/null 2>&1 &")
    run = run_playbook_on_fleet(CONVERGE, "-e", "gunicorn_timeout=31")
    assert run.rc == 0, run.output[-3000:]
    for host in fleet.values():
        gate = host.file("/tmp/gate.props")
        assert gate.exists, "the gate ran and was read"
        seen = dict(line.split("=", 1) for line in gate.content_string.splitlines() if "=" in line)
        seen.pop("ActiveState")
        service = dict(line.split("=", 1) for line in host.check_output(
            f"systemctl show hello.service --property {SANDBOX_PROPERTIES}").splitlines())
        assert seen == service
        assert seen["User"] == "hello" and seen["ProtectSystem"] == "strict"
        assert "/srv/hello/shared" in seen["ReadWritePaths"]


@pytest.mark.parametrize("unit", ["hello.service", "hello_unix.service"])
def test_security_exposure_is_at_most_the_target(host, unit, record):
    score = exposure(host, unit)
    record(f"systemd-analyze security exposure of {unit} (0 best, 10 worst)", host.backend.get_hostname(),
           score=score)
    assert score <= EXPOSURE_TARGET, host.check_output(f"systemd-analyze security --no-pager {unit}")


def test_sigkill_of_the_master_brings_the_service_back(host, recovery_time, record):
    old = main_pid(host)
    assert old != 0
    host.run_expect([0], f"kill -KILL {old}")
    seconds = recovery_time(host, "curl --silent --fail --max-time 1 --output /dev/null http://127.0.0.1:8000/healthz")
    record("gunicorn master killed (SIGKILL): seconds until it answers again",
           host.backend.get_hostname(), seconds=seconds)
    new = wait_for_new_main_pid(host, old)
    assert new != old


def test_a_name_that_would_replace_a_system_unit_is_refused(fleet, run_playbook_on_fleet):
    vendor = {name: host.file("/lib/systemd/system/ssh.service").sha256sum for name, host in fleet.items()}
    run = run_playbook_on_fleet(CONVERGE, "-e", "gunicorn_app_name=ssh")
    assert run.rc != 0
    assert "gunicorn_app_name must not be the name of a unit" in run.output, run.output[-3000:]
    assert set(run.changed.values()) == {0}, run.output[-3000:]
    for name, host in fleet.items():
        assert host.file("/lib/systemd/system/ssh.service").sha256sum == vendor[name]
        assert not host.file("/etc/systemd/system/ssh.service").exists
        assert not host.file("/etc/systemd/system/ssh.socket").exists
        assert host.run("systemctl is-active ssh").stdout.strip() == "active"


def test_a_name_that_would_replace_a_unit_of_the_administrator_is_refused(fleet, run_playbook_on_fleet):
    """A name no list can know: the unit file is there, and not the role's."""
    for host in fleet.values():
        host.run_expect([0], "printf '[Service]\\nExecStart=/bin/true\\n' > /etc/systemd/system/nightly.service")
    try:
        run = run_playbook_on_fleet(CONVERGE, "-e", "gunicorn_app_name=nightly")
        assert run.rc != 0
        assert 'gunicorn_app_name "nightly" names units that already exist' in run.output, run.output[-3000:]
        assert set(run.changed.values()) == {0}, run.output[-3000:]
        for host in fleet.values():
            assert host.file("/etc/systemd/system/nightly.service").content_string == "[Service]\nExecStart=/bin/true\n"
            assert not host.file("/etc/systemd/system/nightly.socket").exists
    finally:
        for host in fleet.values():
            host.run("rm -f /etc/systemd/system/nightly.service")


def loop_while(host, action, interval=0.0):
    """600 requests while hello.service is restarted or reloaded three
    times; the report, once it shows that no request failed."""
    result = host.run("/usr/local/bin/request_loop.py http://127.0.0.1:8000/ hello.service "
                      f"--count 600 --restarts 3 --action {action} --interval {interval} --timeout 30")
    assert result.rc == 0, result.stderr
    report = json.loads(result.stdout)
    print(f"{action} under load: {report}")
    assert report["restart_errors"] == []
    assert len(set(report["main_pids"])) == 4, f"each {action} started a new master"
    assert report["sent"] == 600
    assert report["failed"] == 0, report["errors"]
    return report


def test_restarts_under_a_request_loop_lose_no_request(host):
    # First a reload, as every deploy ends: the master that then serves was
    # started by the one before it, not by systemd, and a restart must still
    # wait for its workers' requests.
    before = main_pid(host)
    assert host.run("systemctl reload hello.service").rc == 0
    assert main_pid(host) != before
    loop_while(host, "restart")


def test_reloads_under_a_request_loop_hand_over_with_no_pause(host):
    report = loop_while(host, "reload", interval=0.01)
    assert report["max_ms"] < 1000, report
    # The old masters finished their requests and left: one master per app.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        processes = [line.split() for line in host.check_output("ps -e -o pid=,ppid=,user=").splitlines()]
        masters = {pid for pid, ppid, user in processes if user == "hello" and ppid == "1"}
        if masters == {str(main_pid(host)), str(main_pid(host, "hello_unix.service"))}:
            break
        time.sleep(1)
    else:
        raise AssertionError(f"old masters are still running: {masters}")


def test_a_reload_that_cannot_take_over_leaves_the_old_master_serving(host):
    """A successor whose workers cannot load the application never takes over."""
    pid = main_pid(host)
    host.run_expect([0], "cp /srv/hello/app-v1/hello.py /tmp/hello.py.orig && "
                         "echo 'raise RuntimeError(\"no\")' >> /srv/hello/app-v1/hello.py")
    try:
        result = host.run("systemctl reload hello.service")
        assert result.rc != 0
        assert main_pid(host) == pid
        assert host.run("curl --silent --fail --max-time 5 http://127.0.0.1:8000/healthz").rc == 0
        assert "exited before it was ready" in journal(host, "hello.service")
    finally:
        host.run_expect([0], "cp /tmp/hello.py.orig /srv/hello/app-v1/hello.py")


def test_a_configuration_change_hands_over_under_load(fleet, run_playbook_on_fleet, fleet_requests,
                                                      converged_afterwards):
    pids = {name: main_pid(host) for name, host in fleet.items()}
    stop = fleet_requests(None, url="http://127.0.0.1:8000/")
    run = run_playbook_on_fleet(CONVERGE, "-e", "gunicorn_workers=3")
    reports = stop()
    print(f"requests during the configuration change: {reports}")
    assert run.rc == 0, run.output[-3000:]
    for name, host in fleet.items():
        assert "workers = 3" in host.file("/etc/gunicorn/hello.conf.py").content_string
        new = wait_for_new_main_pid(host, pids[name])
        workers = host.check_output(f"ps -o pid= --ppid {new}").split()
        assert len(workers) == 3
        assert reports[name]["failed"] == 0, reports[name]["errors"]
        assert reports[name]["max_ms"] < 1000, reports[name]


def test_unix_socket_app_listens_only_for_the_proxy_group(host):
    socket = host.file("/run/hello_unix.sock")
    assert socket.is_socket
    assert (socket.user, socket.group, socket.mode) == ("root", "www-data", 0o660)
    url = "--unix-socket /run/hello_unix.sock http://localhost/healthz"
    allowed = host.run(f"sudo -u www-data curl --silent --fail --max-time 5 {url}")
    assert allowed.rc == 0, allowed.stderr
    assert host.run(f"sudo -u nobody curl --silent --fail --max-time 5 {url}").rc != 0


def test_two_apps_run_side_by_side_with_their_own_masters(host):
    assert main_pid(host, "hello.service") != main_pid(host, "hello_unix.service")
    assert host.file("/etc/gunicorn/hello_unix.conf.py").contains("unix:/run/hello_unix.sock")
    # The second application added no TCP listener: besides sshd, only hello.
    listeners = {line.split()[3] for line in host.check_output("ss -Htln").splitlines()}
    assert {a for a in listeners if not a.endswith(":22")} == {"127.0.0.1:8000"}
