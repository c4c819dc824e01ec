"""The whole stack on one server: requests through nginx to gunicorn to Flask."""

import json
import subprocess
import urllib.error
import urllib.request

import pytest

DOMAIN = "hello.test"


def curl(host, url, *options):
    """Request from inside the server; returns (status, headers, body)."""
    result = host.run(
        "curl --silent --show-error --max-time 5 --include "
        + " ".join(options) + f" '{url}'"
    )
    assert result.rc == 0, result.stderr
    head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
    status_line, *lines = head.splitlines()
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def test_app_answers_through_nginx(host):
    status, headers, body = curl(host, "http://127.0.0.1/", f"--header 'Host: {DOMAIN}'")
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    seen = json.loads(body)
    assert seen["app"] == "hello"
    assert seen["host"] == DOMAIN
    assert seen["scheme"] == "http"
    assert seen["client"] == "127.0.0.1"


def test_client_cannot_spoof_its_address(host):
    _, _, body = curl(
        host, "http://127.0.0.1/",
        f"--header 'Host: {DOMAIN}'", "--header 'X-Forwarded-For: 198.51.100.7'",
    )
    assert json.loads(body)["client"] == "127.0.0.1"


def test_www_redirects_to_apex_with_path_and_query(host):
    status, headers, _ = curl(
        host, "http://127.0.0.1/some/path?q=1", f"--header 'Host: www.{DOMAIN}'"
    )
    assert status == 301
    assert headers["location"] == f"http://{DOMAIN}/some/path?q=1"


def test_app_answers_a_client_outside_the_server(host):
    """Through the port published on the machine's loopback, as a browser would."""
    name = host.backend.get_hostname()
    port = subprocess.run(
        ["podman", "port", name, "80/tcp"], check=True, capture_output=True, text=True
    ).stdout.strip().rsplit(":", 1)[1]
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": DOMAIN})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        seen = json.load(response)
    assert seen["app"] == "hello"
    assert seen["host"] == DOMAIN


def test_gunicorn_listens_on_loopback_8000_only(host):
    listeners = host.check_output("ss -Htln 'sport = :8000'").splitlines()
    assert {line.split()[3] for line in listeners} == {"127.0.0.1:8000"}


def test_only_ssh_and_http_listen_beyond_loopback(host):
    listeners = host.check_output("ss -Htln").splitlines()
    public = set()
    for line in listeners:
        address, _, port = line.split()[3].rpartition(":")
        if address not in ("127.0.0.1", "[::1]") and not address.startswith("127."):
            public.add(port)
    assert public <= {"22", "80"}, public


def test_app_runs_as_its_own_user_not_root(host):
    main_pid = host.check_output("systemctl show --property MainPID --value hello.service")
    assert main_pid != "0", host.run("journalctl -u hello.service -n 30 --no-pager").stdout
    users = host.check_output(f"ps -o user= -p {main_pid} --ppid {main_pid}").split()
    assert len(users) >= 2
    assert set(users) == {"hello"}


def test_running_app_has_the_rotated_secret(host):
    """The side effect re-deployed with a new SECRET_KEY: gunicorn must have restarted with it."""
    main_pid = host.check_output("systemctl show --property MainPID --value hello.service")
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{main_pid}/environ").splitlines()
    assert "SECRET_KEY=site-scenario-rotated-secret" in environ
    assert "SECRET_KEY=site-scenario-secret" not in environ


@pytest.mark.parametrize("path", ["/srv/hello/shared/hello.env"])
def test_secrets_are_not_world_readable(host, path):
    env_file = host.file(path)
    assert env_file.mode & 0o007 == 0
    assert env_file.user == "root"
