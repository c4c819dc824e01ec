"""The whole stack on one server: requests through nginx to gunicorn to Flask."""

import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
from conftest import main_pid

DOMAIN = "hello.test"
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])


def test_app_answers_through_nginx(http_get):
    rc, status, headers, body = http_get("http://127.0.0.1/", DOMAIN)
    assert (rc, status) == (0, 200), body
    assert headers["content-type"].startswith("application/json")
    seen = json.loads(body)
    assert seen["app"] == "hello"
    assert seen["host"] == DOMAIN
    assert seen["scheme"] == "http"
    assert seen["client"] == "127.0.0.1"


def test_client_cannot_spoof_its_address(http_get):
    response = http_get("http://127.0.0.1/", DOMAIN, "--header 'X-Forwarded-For: 198.51.100.7'")
    assert response.status == 200, response.body
    assert json.loads(response.body)["client"] == "127.0.0.1"


def test_www_redirects_to_apex_with_path_and_query(http_get):
    rc, status, headers, _ignored = http_get("http://127.0.0.1/some/path?q=1", f"www.{DOMAIN}")
    assert (rc, status) == (0, 301)
    assert headers["location"] == f"http://{DOMAIN}/some/path?q=1"


def test_app_answers_a_client_outside_the_server(host):
    """Through the port published on the machine's loopback, as a browser would."""
    port = subprocess.run(
        [str(PROJECT / "testbed" / "instance.sh"), "port", host.backend.get_hostname(), "80"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
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
        address, _ignored, port = line.split()[3].rpartition(":")
        if address not in ("127.0.0.1", "[::1]") and not address.startswith("127."):
            public.add(port)
    assert public <= {"22", "80"}, public


def test_app_runs_as_its_own_user_not_root(host):
    master = main_pid(host)
    assert master != 0, host.run("journalctl -u hello.service -n 30 --no-pager").stdout
    users = host.check_output(f"ps -o user= -p {master} --ppid {master}").split()
    assert len(users) >= 2
    assert set(users) == {"hello"}


@pytest.mark.parametrize("path", ["/srv/hello/shared/hello.env"])
def test_secrets_are_not_world_readable(host, path):
    env_file = host.file(path)
    assert env_file.mode & 0o007 == 0
    assert env_file.user == "root"


def test_static_files_come_from_the_live_release_through_nginx_alone(host, http_get):
    response = http_get("http://127.0.0.1/static/hello.css", DOMAIN)
    assert response.status == 200
    assert "Served by nginx straight from the live release" in response.body
    # nginx's expiry: Flask would answer the same file with "no-cache".
    assert response.headers["cache-control"] == "max-age=604800"
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.usefixtures("converged_app")
def test_the_oldest_supported_ansible_core_changes_nothing_on_the_converged_hosts(fleet):
    """meta/runtime.yml claims ansible-core 2.16: run the converge's play
    again with it (make installs it in .testbed/ansible-oldest). Rendering
    every file the same way, it changes nothing and restarts nothing."""
    oldest = PROJECT / ".testbed" / "ansible-oldest" / "bin" / "ansible-playbook"
    pids = {name: main_pid(host) for name, host in fleet.items()}
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    result = subprocess.run(
        [str(oldest), "-i", os.environ["MOLECULE_INVENTORY_FILE"],
         str(Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml")],
        capture_output=True, text=True, timeout=900, env=env, check=False)
    output = result.stdout + result.stderr
    assert "[core 2.16." in subprocess.check_output([str(oldest), "--version"], text=True)
    assert result.returncode == 0, output[-3000:]
    for name, host in fleet.items():
        assert re.search(rf"^{re.escape(name)}\s*:\s*ok=\d+\s+changed=0\s", output, re.M), output[-3000:]
        assert main_pid(host) == pids[name]
