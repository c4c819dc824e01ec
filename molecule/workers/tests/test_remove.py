"""Removing one application (playbooks/remove.yml) from a host that serves
two: the other keeps answering, untouched; the removed one's units, site,
firewall, releases and users go, and its data stays until asked to go.

A second application, ``second``, is deployed beside hello from the same
repository (site.yml with its own name, port and domain), with a worker and
a scheduled job, so that each kind of unit has something to remove.
"""

import json
import os
from pathlib import Path

from conftest import ansible_playbook, recap_changed

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SITE = PROJECT / "playbooks" / "site.yml"
REMOVE = PROJECT / "playbooks" / "remove.yml"
SECOND = {
    "flask_app_name": "second",
    "flask_app_version": "v2",
    "flask_app_env": {"HELLO_TRUSTED_HOPS": "1", "HELLO_QUEUE": "second"},
    "flask_app_secret_env": {"SECRET_KEY": "second-app-secret"},
    "flask_app_processes": {"jobs": {"command": "python hello_worker.py"}},
    "flask_app_timers": {"tick": {"command": "python hello_tick.py", "on_calendar": "*:0/5"}},
    "flask_app_process_settle": 2,
    "gunicorn_bind": "127.0.0.1:8001",
    "nginx_proxy_server_name": "second.test",
    "nginx_proxy_upstreams": ["127.0.0.1:8001"],
    "nginx_proxy_static_dir": "/srv/second/current/static",
}
UNITS = ["second.socket", "second.service", "second-jobs@1.service", "second-tick.timer"]
UNIT_FILES = ["second.socket", "second.service", "second-jobs@.service", "second-tick.timer", "second-tick.service"]


def answer(host, domain):
    """HTTP status and body of GET / through nginx (000 when nginx closes the
    connection without an answer, as its catch-all does)."""
    result = host.run(f"curl --silent --max-time 5 --header 'Host: {domain}' "
                      "--write-out '\\n%{http_code}' http://127.0.0.1/")
    body, _sep, status = result.stdout.rpartition("\n")
    return status, body


def remove(host, *more):
    name = host.backend.get_hostname()
    rc, output = ansible_playbook(REMOVE, "--limit", name, "-e", json.dumps(SECOND), "-e", "flaskops_app=second", *more)
    return rc, output, recap_changed(output, name)


def test_removing_one_application_keeps_the_other_serving_and_its_data_until_asked(
        host, background_requests, record):
    name = host.backend.get_hostname()
    rc, output = ansible_playbook(SITE, "--limit", name, "-e", json.dumps(SECOND))
    assert rc == 0, output[-3000:]
    status, body = answer(host, "second.test")
    assert status == "200" and json.loads(body)["release"] == "v2"
    assert answer(host, "hello.test")[0] == "200"
    assert all(host.service(unit).is_running for unit in UNITS)
    host.run_expect([0], "echo kept > /srv/second/shared/instance/notes.txt")

    stop = background_requests("hello.test")
    rc, output, _changed = remove(host)
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
    assert host.run("nft list table inet flaskops_second").rc != 0
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

    rc, output, changed = remove(host)
    assert rc == 0 and changed == 0, output[-3000:]

    rc, output, _changed = remove(host, "-e", "flask_app_remove_data=true")
    assert rc == 0, output[-3000:]
    assert not host.file("/srv/second").exists
    assert answer(host, "hello.test")[0] == "200"
