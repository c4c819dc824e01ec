"""Behaviour of the nginx_proxy role on a converged host, through real requests."""

import json
import uuid

SITE = "example.test"


def backend_saw(host, path):
    log = host.check_output("journalctl --unit echo-backend.service --no-pager --output cat")
    return f"request {path}" in log


def test_nginx_is_enabled_and_running(host):
    nginx = host.service("nginx")
    assert nginx.is_enabled
    assert nginx.is_running


def test_site_is_linked_into_sites_enabled(host):
    link = host.file(f"/etc/nginx/sites-enabled/{SITE}.conf")
    assert link.is_symlink
    assert link.linked_to == f"/etc/nginx/sites-available/{SITE}.conf"
    assert host.file(f"/etc/nginx/sites-available/{SITE}.conf").mode == 0o644


def test_distribution_default_site_is_gone(host):
    assert not host.file("/etc/nginx/sites-enabled/default").exists


def test_configuration_passes_nginx_test(host):
    assert host.run("nginx -t").rc == 0


def test_apex_is_proxied_to_the_application(host, http_get):
    path = f"/hello-{uuid.uuid4().hex}?x=1"
    rc, status, _, body = http_get(f"http://127.0.0.1{path}", SITE)
    assert (rc, status) == (0, 200)
    assert json.loads(body)["path"] == path
    assert backend_saw(host, path), "the backend's request log is the witness of the tests below"


def test_forwarding_headers_reach_the_application(http_get):
    body = http_get("http://127.0.0.1/headers", SITE).body
    headers = json.loads(body)["headers"]
    assert headers["host"] == SITE
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == SITE


def test_client_forwarded_for_is_appended_to_not_replaced(http_get):
    body = http_get("http://127.0.0.1/xff", SITE, "--header 'X-Forwarded-For: 203.0.113.9'").body
    assert json.loads(body)["headers"]["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"


def test_www_redirects_permanently_to_apex_keeping_path_and_query(http_get):
    rc, status, headers, _ = http_get("http://127.0.0.1/some/path?q=1", f"www.{SITE}")
    assert (rc, status) == (0, 301)
    assert headers["location"] == f"http://{SITE}/some/path?q=1"


def test_unknown_host_gets_no_answer_and_never_reaches_the_app(host, http_get):
    path = f"/unknown-host-{uuid.uuid4().hex}"
    rc, status, _, _ = http_get(f"http://127.0.0.1{path}", "attacker.invalid")
    assert rc == 52, "expected nginx to close the connection without a reply"
    assert status is None
    assert not backend_saw(host, path)


def test_dotfiles_are_not_served_or_proxied(host, http_get):
    path = f"/.git/config-{uuid.uuid4().hex}"
    rc, status, _, _ = http_get(f"http://127.0.0.1{path}", SITE)
    assert (rc, status) == (0, 404)
    assert not backend_saw(host, path)
