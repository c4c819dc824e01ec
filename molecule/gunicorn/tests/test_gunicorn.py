"""Behaviour of the gunicorn role on a converged host."""

import json

import pytest


def journal(host, unit):
    return host.run(f"journalctl --unit {unit} --lines 30 --no-pager").stdout


@pytest.mark.parametrize("unit", ["hello.socket", "hello.service"])
def test_unit_is_enabled_and_active(host, unit):
    service = host.service(unit)
    assert service.is_enabled, journal(host, unit)
    assert service.is_running, journal(host, unit)


def test_listens_on_loopback_8000_only(host):
    listeners = host.check_output("ss -Htln 'sport = :8000'").splitlines()
    local_addresses = {line.split()[3] for line in listeners}
    assert local_addresses == {"127.0.0.1:8000"}


def test_master_and_workers_run_as_the_app_user(host):
    main_pid = host.check_output("systemctl show --property MainPID --value hello.service")
    assert main_pid != "0", journal(host, "hello.service")
    users = host.check_output(
        f"ps -o user= -p {main_pid} --ppid {main_pid}"
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
