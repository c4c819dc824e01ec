"""What nginx -t does not catch: a port another program holds, and a
warning about a name two servers claim. Each change is tried on the
converged stack (site.yml run again first when a deploy test left another
release live: the runs below change nginx alone) under a request loop
through nginx: refused, the files put back as they were, nginx still
serving, and coming back after a restart.
"""

import json
import os
from pathlib import Path

import pytest

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SITE = PROJECT / "playbooks" / "site.yml"
DOMAIN = "hello.test"
NGINX_FILES = "find /etc/nginx -type f -o -type l | sort | xargs sha256sum 2>/dev/null; ls -l /etc/nginx/sites-enabled"


def answers(host):
    return host.run(f"curl --silent --fail --max-time 5 --output /dev/null --header 'Host: {DOMAIN}' "
                    "http://127.0.0.1/").rc == 0


@pytest.fixture
def port_taken(host):
    """Another program listening on port 8089, on IPv4 and IPv6."""
    host.run_expect([0], "systemd-run --unit flaskops-test-squatter --collect "
                         "python3 -m http.server --bind :: 8089")
    host.run_expect([0], "for i in $(seq 50); do ss -Htln 'sport = :8089' | grep -q . && exit 0; sleep 0.1; done; exit 1")
    yield 8089
    host.run("systemctl stop flaskops-test-squatter")


@pytest.mark.usefixtures("converged_app")
def test_a_port_another_program_holds_is_refused_after_the_reload_and_nothing_stays(
        host, run_playbook, background_requests, port_taken, record):
    before = host.check_output(NGINX_FILES)
    stop = background_requests(DOMAIN)
    run = run_playbook(SITE, "-e", json.dumps({"nginx_proxy_listen_port": port_taken}))
    report = stop()
    record("a site moved to a port another program holds: requests through nginx",
           host.backend.get_hostname(), sent=report["sent"], failed=report["failed"])
    assert run.rc != 0
    assert f"nginx could not listen on {port_taken}/IPv4" in run.output, run.output[-3000:]
    assert f"nginx_proxy_listen_port {port_taken}" in run.output
    assert report["failed"] == 0, report["errors"]
    assert host.check_output(NGINX_FILES) == before, "every file as it was, no catch-all for the port"
    assert not host.file(f"/etc/nginx/conf.d/flaskops-catchall-{port_taken}.conf").exists
    assert answers(host)
    # The files nginx would start from next time are the ones it serves.
    host.run_expect([0], "systemctl restart nginx")
    assert answers(host)


@pytest.fixture
def hidden_claim(host):
    """A site that claims legacy-included.test through a file it includes,
    which only nginx itself reads."""
    host.run_expect([0], "mkdir -p /etc/nginx/snippets && "
                         "echo 'server_name legacy-included.test;' > /etc/nginx/snippets/legacy-names.conf && "
                         "printf 'server {\\n  listen 80;\\n  include /etc/nginx/snippets/legacy-names.conf;\\n"
                         "  return 200;\\n}\\n' > /etc/nginx/sites-enabled/legacy-included.conf && "
                         "nginx -t && systemctl reload nginx")
    yield "legacy-included.test"
    host.run("rm -f /etc/nginx/sites-enabled/legacy-included.conf /etc/nginx/snippets/legacy-names.conf && "
             "systemctl reload nginx")


@pytest.mark.usefixtures("converged_app")
def test_a_change_nginx_warns_about_is_rolled_back(host, run_playbook, background_requests, hidden_claim, record):
    before = host.check_output(NGINX_FILES)
    stop = background_requests(DOMAIN)
    run = run_playbook(SITE, "-e", json.dumps({"nginx_proxy_server_aliases": [hidden_claim]}))
    report = stop()
    record("an alias another site claims through an include (nginx only warns): requests through nginx",
           host.backend.get_hostname(), sent=report["sent"], failed=report["failed"])
    assert run.rc != 0
    assert "nginx -t warned about the new configuration" in run.output, run.output[-3000:]
    assert f'conflicting server name "{hidden_claim}"' in run.output
    assert report["failed"] == 0, report["errors"]
    assert host.check_output(NGINX_FILES) == before
    assert answers(host)
