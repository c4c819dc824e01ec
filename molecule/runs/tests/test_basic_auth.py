"""A staging site behind HTTP basic auth (nginx_proxy_basic_auth), through
playbooks/site.yml on the whole stack: every page and static file asks for
the password, the health check the load balancer calls does not (a
location with basic_auth false), and turning it off again removes the
password file. (That a kept password changes nothing is the nginx_proxy
scenario's idempotence, with its location behind basic auth.) Both runs go under a request loop to that health check,
which must lose nothing.
"""

import json
import os
import shlex
from pathlib import Path

import pytest

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SITE = PROJECT / "playbooks" / "site.yml"
DOMAIN = "hello.test"
PASSWORD = "staging: only for the reviewers"
PASSWORD_FILE = f"/etc/nginx/flaskops-auth/{DOMAIN}.htpasswd"
OPEN_HEALTH_CHECK = [{"path": "/healthz", "match": "exact", "basic_auth": False}]
STAGING = json.dumps({"nginx_proxy_basic_auth": True, "nginx_proxy_basic_auth_users": {"reviewer": PASSWORD},
                      "nginx_proxy_locations": OPEN_HEALTH_CHECK})


def status(host, path, credentials=None):
    auth = f"--user {shlex.quote(credentials)} " if credentials else ""
    return host.check_output(f"curl --silent --output /dev/null --write-out '%{{http_code}}' --max-time 5 {auth}"
                             f"--header 'Host: {DOMAIN}' http://127.0.0.1{path}")


@pytest.mark.usefixtures("converged_app")
def test_a_whole_site_behind_basic_auth_but_its_health_check_then_open_again(
        host, run_playbook, background_requests, record):
    name = host.backend.get_hostname()
    stop = background_requests(DOMAIN, url="http://127.0.0.1/healthz")
    try:
        on = run_playbook(SITE, "-e", STAGING)
        assert on.rc == 0, on.output[-3000:]
        for path in ("/", "/static/hello.css", "/anything"):
            assert status(host, path) == "401", path
            assert status(host, path, "reviewer:wrong") == "401", path
        assert status(host, "/", f"reviewer:{PASSWORD}") == "200"
        assert status(host, "/static/hello.css", f"reviewer:{PASSWORD}") == "200"
        assert status(host, "/healthz") == "200"
        assert PASSWORD not in on.output and "only for the reviewers" not in on.output
        assert host.file(PASSWORD_FILE).content_string.startswith("reviewer:$6$")
    finally:
        off = run_playbook(SITE)
        report = stop()
    record("site.yml puts a whole site behind basic auth, then takes it off: requests to its open health check",
           name, sent=report["sent"], failed=report["failed"])
    assert off.rc == 0, off.output[-3000:]
    assert report["sent"] > 20 and report["failed"] == 0, report
    assert status(host, "/") == "200"
    assert not host.file(PASSWORD_FILE).exists
