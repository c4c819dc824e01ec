"""Several applications from one inventory (flaskops_apps), then removing
one of them (playbooks/remove.yml).

The inventory this test adds lists hello (on its usual port and domain) and
a second application, ``second``, from the same repository with its own
version, domain, queue, secret, worker and scheduled job, and no bind: it
gets a unix socket of its own, nginx running on the same host. site.yml
deploys both under a request loop to hello; a second run changes nothing;
two entries sharing a domain are refused before any change; deploy.yml,
rollback.yml and run.yml act on the one named with -e flaskops_app, hello
untouched. Then remove.yml takes second away: hello keeps answering, and
second's data stays until asked to go.
"""

import json
import os
from pathlib import Path

import pytest
import yaml
from conftest import ansible_playbook, recap_changed

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SITE = PROJECT / "playbooks" / "site.yml"
DEPLOY = PROJECT / "playbooks" / "deploy.yml"
ROLLBACK = PROJECT / "playbooks" / "rollback.yml"
RUN = PROJECT / "playbooks" / "run.yml"
REMOVE = PROJECT / "playbooks" / "remove.yml"
HELLO = {"name": "hello", "bind": "127.0.0.1:8000", "server_name": "hello.test",
         "static_dir": "/srv/hello/current/static"}
SECOND = {
    "name": "second",
    "version": "v2",
    "server_name": "second.test",
    "aliases": ["second.example.test"],
    "env": {"HELLO_TRUSTED_HOPS": "1", "HELLO_QUEUE": "second"},
    "secret_env": {"SECRET_KEY": "second-app-secret"},
    "processes": {"jobs": {"command": "python hello_worker.py"}},
    "timers": {"tick": {"command": "python hello_tick.py", "on_calendar": "*:0/5"}},
    "static_dir": "/srv/second/current/static",
}
# Settings of the whole host, for every application: workers are checked
# for 2 s after they start (instead of the default), to keep the test short.
SHARED = ["-e", "flask_app_process_settle=2"]
UNITS = ["second.socket", "second.service", "second-jobs@1.service", "second-tick.timer"]
UNIT_FILES = ["second.socket", "second.service", "second-jobs@.service", "second-tick.timer", "second-tick.service"]


@pytest.fixture
def apps_inventory(tmp_path):
    """Write an inventory source giving flaskops_apps; return a function
    from a list of entries to the -i arguments that add it."""

    def write(*entries):
        path = tmp_path / f"apps-{len(list(tmp_path.iterdir()))}.yml"
        path.write_text(yaml.safe_dump({"all": {"vars": {"flaskops_apps": list(entries)}}}))
        return ["-i", str(path)]

    return write


def answer(host, domain):
    """HTTP status and body of GET / through nginx (000 when nginx closes the
    connection without an answer, as its catch-all does)."""
    result = host.run(f"curl --silent --max-time 5 --header 'Host: {domain}' "
                      "--write-out '\\n%{http_code}' http://127.0.0.1/")
    body, _sep, status = result.stdout.rpartition("\n")
    return status, body


def release(host, domain):
    status, body = answer(host, domain)
    assert status == "200", (domain, status, body)
    return json.loads(body)["release"]


def playbook(host, path, *args):
    name = host.backend.get_hostname()
    rc, output = ansible_playbook(path, "--limit", name, *SHARED, *args)
    return rc, output, recap_changed(output, name)


def test_two_applications_from_one_inventory_then_one_removed(host, apps_inventory, background_requests, record):
    name = host.backend.get_hostname()
    both = apps_inventory(HELLO, SECOND)
    stop = background_requests("hello.test")
    rc, output, _changed = playbook(host, SITE, *both)
    report = stop()
    record("site.yml adds a second application: requests to hello through nginx", name,
           sent=report["sent"], failed=report["failed"])
    assert rc == 0, output[-3000:]
    assert report["sent"] > 0 and report["failed"] == 0, report

    # Each on its own domain (its alias redirecting there), site, user, socket and sandbox; a
    # name no site answers for reaches no application.
    assert release(host, "second.test") == "v2"
    assert answer(host, "second.example.test")[0] == "301", "an alias redirects to its application's domain"
    assert release(host, "hello.test") == "v3"  # main
    assert answer(host, "nobody.test")[0] == "000"
    assert host.socket("unix:///run/gunicorn-second.sock").is_listening
    assert host.file("/etc/nginx/sites-available/second.test.conf").contains("unix:/run/gunicorn-second.sock")
    assert all(host.service(unit).is_running for unit in UNITS)
    assert host.user("second").exists and host.file("/srv/second/current").linked_to.startswith("/srv/second/releases/")
    assert host.run("systemctl show -p User --value second.service").stdout.strip() == "second"
    # Its own secret and queue, not hello's.
    env = host.file("/srv/second/shared/second.env")
    assert env.mode & 0o007 == 0 and env.contains('SECRET_KEY="second-app-secret"') and env.contains('HELLO_QUEUE="second"')
    assert not host.file("/srv/hello/shared/hello.env").contains("second-app-secret")

    rc, output, changed = playbook(host, SITE, *both)
    assert rc == 0 and changed == 0, output[-3000:]

    # Two entries sharing a domain (compared without case): refused before
    # anything changes.
    rc, output, changed = playbook(host, SITE, *apps_inventory(HELLO, dict(SECOND, server_name="Hello.TEST")))
    assert rc != 0 and changed == 0
    assert "flaskops_apps entry 2 (second) shares the domain hello.test with entry 1 (hello)" in output, output[-3000:]

    # One application at a time: hello's release and service stay as they are.
    hello_live = host.file("/srv/hello/current").linked_to
    hello_pid = host.run("systemctl show -p MainPID --value hello.service").stdout.strip()
    rc, output, _changed = playbook(host, DEPLOY, *both, "-e", "flaskops_app=second", "-e", "flask_app_version=v1")
    assert rc == 0, output[-3000:]
    assert release(host, "second.test") == "v1"
    rc, output, _changed = playbook(host, ROLLBACK, *both, "-e", "flaskops_app=second")
    assert rc == 0, output[-3000:]
    assert release(host, "second.test") == "v2"
    rc, output, _changed = playbook(host, RUN, *both, "-e", "flaskops_app=second",
                                    "-e", json.dumps({"flaskops_command": "printenv HELLO_QUEUE SECRET_KEY"}))
    assert rc == 0, output[-3000:]
    assert "second" in output and "second-app-secret" not in output
    assert host.file("/srv/hello/current").linked_to == hello_live
    assert host.run("systemctl show -p MainPID --value hello.service").stdout.strip() == hello_pid
    rc, output, _changed = playbook(host, DEPLOY, *both, "-e", "flaskops_app=nothing")
    assert rc != 0 and "flaskops_app must be one of hello, second" in output, output[-3000:]

    host.run_expect([0], "echo kept > /srv/second/shared/instance/notes.txt")
    stop = background_requests("hello.test")
    rc, output, _changed = playbook(host, REMOVE, *both, "-e", "flaskops_app=second")
    report = stop()
    record("remove another application: requests to hello through nginx", name,
           sent=report["sent"], failed=report["failed"])
    assert rc == 0, output[-3000:]
    assert report["sent"] > 0 and report["failed"] == 0, report
    assert answer(host, "hello.test")[0] == "200"
    assert answer(host, "second.test")[0] == "000", "the removed domain reaches nginx's catch-all, no application"

    # Its units, site, firewall, releases and users are gone.
    for unit in UNIT_FILES:
        assert not host.file(f"/etc/systemd/system/{unit}").exists, unit
    assert host.run("systemctl list-units --all --plain --no-legend 'second*'").stdout.strip() == ""
    assert not host.file("/etc/nginx/sites-enabled/second.test.conf").exists
    assert not host.file("/etc/nginx/sites-available/second.test.conf").exists
    assert not host.file("/etc/gunicorn/second.conf.py").exists
    assert not host.file("/run/gunicorn-second.sock").exists
    assert not host.user("second").exists and not host.group("second").exists
    assert not host.user("second-build").exists
    for gone in ("/srv/second/releases", "/srv/second/current", "/srv/second/history.json",
                 "/var/cache/flaskops/second", "/etc/flaskops/second"):
        assert not host.file(gone).exists, gone
    # Its data stays, where only root may go.
    assert host.file("/srv/second/shared/instance/notes.txt").content_string == "kept\n"
    shared = host.file("/srv/second/shared")
    assert (shared.user, shared.group, shared.mode) == ("root", "root", 0o700)
    # hello was not touched.
    assert host.service("hello.service").is_running and host.user("hello").exists

    rc, output, changed = playbook(host, REMOVE, *both, "-e", "flaskops_app=second")
    assert rc == 0 and changed == 0, output[-3000:]

    rc, output, _changed = playbook(host, REMOVE, *both, "-e", "flaskops_app=second", "-e", "flask_app_remove_data=true")
    assert rc == 0, output[-3000:]
    assert not host.file("/srv/second").exists
    assert answer(host, "hello.test")[0] == "200"
