"""Behaviour of the nginx_proxy role on a converged host, through real requests."""

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

from conftest import NGINX_EXPOSURE_TARGET, exposure, refused_by_nginx

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
    rc, status, _ignored, body = http_get(f"http://127.0.0.1{path}", SITE)
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
    rc, status, headers, _ignored = http_get("http://127.0.0.1/some/path?q=1", f"www.{SITE}")
    assert (rc, status) == (0, 301)
    assert headers["location"] == f"http://{SITE}/some/path?q=1"


def test_unknown_host_gets_no_answer_and_never_reaches_the_app(host, http_get):
    path = f"/unknown-host-{uuid.uuid4().hex}"
    rc, status, _ignored, _ignored = http_get(f"http://127.0.0.1{path}", "attacker.invalid")
    assert rc == 52, "expected nginx to close the connection without a reply"
    assert status is None
    assert not backend_saw(host, path)


def test_dotfiles_are_not_served_or_proxied(host, http_get):
    path = f"/.git/config-{uuid.uuid4().hex}"
    rc, status, _ignored, _ignored = http_get(f"http://127.0.0.1{path}", SITE)
    assert (rc, status) == (0, 404)
    assert not backend_saw(host, path)


# The HTTPS site: secure.test, alias old-secure.test, static files, TLS.
SECURE = "secure.test"
CURL_TLS = ("--cacert /usr/local/share/flaskops-test-ca.crt "
            "--resolve secure.test:443:127.0.0.1 --resolve www.secure.test:443:127.0.0.1 "
            "--resolve old-secure.test:443:127.0.0.1 --resolve other.test:443:127.0.0.1")
CONVERGE = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}
EXPOSURE_TARGET = NGINX_EXPOSURE_TARGET


def https_get(http_get, path, host_name=SECURE, *options):
    return http_get(f"https://{host_name}{path}", host_name, CURL_TLS, *options)


def test_main_configuration_is_tuned(host):
    config = host.check_output("nginx -T 2>/dev/null")
    for directive in ("worker_processes ", "server_tokens off;", "sendfile on;", "reuseport",
                      "gzip on;", "client_body_timeout 30s;", "ssl_protocols TLSv1.2 TLSv1.3;"):
        assert directive in config, directive


def test_server_header_hides_the_version(http_get):
    response = http_get("http://127.0.0.1/version", SITE)
    assert response.headers["server"] == "nginx"


def test_text_answers_are_compressed(http_get):
    response = http_get(f"http://127.0.0.1/{'x' * 400}", SITE, "--header 'Accept-Encoding: gzip'",
                        "--output /dev/null --dump-header /dev/stdout")
    assert response.status == 200
    assert response.headers.get("content-encoding") == "gzip"


def test_http_redirects_to_https_keeping_path_and_query(http_get):
    for name in (SECURE, f"www.{SECURE}", f"old-{SECURE}"):
        rc, status, headers, _ignored = http_get("http://127.0.0.1/a/b?c=1", name)
        assert (rc, status) == (0, 301), name
        assert headers["location"] == f"https://{SECURE}/a/b?c=1", name


def test_https_is_proxied_with_hsts_and_the_https_scheme(host, http_get):
    path = f"/tls-{uuid.uuid4().hex}?q=1"
    response = https_get(http_get, path)
    assert (response.rc, response.status) == (0, 200), response.body
    assert response.headers["strict-transport-security"] == "max-age=63072000"
    echoed = json.loads(response.body)
    assert echoed["path"] == path
    assert echoed["headers"]["x-forwarded-proto"] == "https"
    assert echoed["headers"]["host"] == SECURE


def test_aliases_over_https_redirect_to_the_apex(http_get):
    for name in (f"www.{SECURE}", f"old-{SECURE}"):
        rc, status, headers, _ignored = https_get(http_get, "/p?q=2", name)
        assert (rc, status) == (0, 301), name
        assert headers["location"] == f"https://{SECURE}/p?q=2"
        assert headers["strict-transport-security"] == "max-age=63072000"


def test_http2_is_negotiated_on_every_release(host):
    # nginx 1.22 (Debian 12) takes it as a listen flag, 1.25.1 and later as "http2 on".
    answer = host.run(f"curl --silent --http2 {CURL_TLS} --output /dev/null "
                      f"--write-out '%{{http_version}}' https://{SECURE}/")
    assert answer.stdout == "2", answer.stderr


def test_only_tls_1_2_and_1_3_are_offered(host):
    """With a client that does speak TLS 1.1: it completes a TLS 1.1
    handshake with a server of its own first, then nginx refuses it."""
    script = (Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "molecule" / "resources" / "tls_versions.py").read_text()
    out = host.check_output(f"python3 - 443 {SECURE} /etc/nginx/tls/{SECURE}.crt /etc/nginx/tls/{SECURE}.key "
                            f"<<'PY'\n{script}\nPY")
    found = json.loads(out)
    assert found["control"] == "TLSv1.1", "the client can speak TLS 1.1"
    assert found["TLSv1.1"] is None, found
    assert found["TLSv1.2"] == "TLSv1.2", found
    assert found["TLSv1.3"] == "TLSv1.3", found


def test_unknown_host_on_https_is_refused_at_the_handshake(host):
    result = host.run(f"curl --silent --insecure --max-time 5 {CURL_TLS} https://other.test/")
    assert result.rc == 35, "expected the TLS handshake to be refused"


def test_private_key_is_root_only(host):
    key = host.file(f"/etc/nginx/tls/{SECURE}.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)
    assert host.file("/etc/nginx/tls").mode == 0o700


def test_security_headers_are_sent_on_a_404(http_get):
    response = http_get("http://127.0.0.1/.env", SITE)
    assert response.status == 404
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name


def test_security_headers_are_sent_on_a_502(host, http_get):
    host.run_expect([0], "systemctl stop echo-backend.service")
    try:
        response = https_get(http_get, "/while-the-app-is-down")
    finally:
        host.run_expect([0], "systemctl start echo-backend.service")
    assert response.status == 502
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert response.headers["strict-transport-security"] == "max-age=63072000"


def test_static_files_come_from_nginx_with_cache_headers(host, http_get):
    response = https_get(http_get, "/static/app.css")
    assert response.status == 200
    assert response.body.strip() == "body { color: #123456; }"
    assert response.headers["cache-control"] == "max-age=604800"
    assert "expires" in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert not backend_saw(host, "/static/app.css")


def test_hidden_static_files_are_never_served(host, http_get):
    for path in ("/static/.secret", "/static/sub/.env"):
        response = https_get(http_get, path)
        assert response.status == 404, path
        assert "never-served" not in response.body
        assert not backend_saw(host, path)


def test_nginx_runs_in_its_sandbox_within_the_exposure_target(host, record):
    assert host.file("/etc/systemd/system/nginx.service.d/flaskops-hardening.conf").exists
    bounding = host.check_output("systemctl show --property CapabilityBoundingSet --value nginx")
    assert "cap_sys_admin" not in bounding and "cap_net_bind_service" in bounding
    score = exposure(host, "nginx.service")
    # Debian's own unit, without the role's drop-ins, for comparison.
    host.run_expect([0], "cp /lib/systemd/system/nginx.service /tmp/debian-nginx.service")
    report = host.check_output("systemd-analyze security --offline=yes --no-pager /tmp/debian-nginx.service")
    debian = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", report).group(1))
    record("systemd-analyze security exposure of nginx.service (0 best, 10 worst)", host.backend.get_hostname(),
           score=score, debian_unit_alone=debian)
    assert score < debian
    assert score <= EXPOSURE_TARGET, host.check_output("systemd-analyze security --no-pager nginx.service")


def test_a_setting_nginx_refuses_leaves_the_site_up_and_the_files_as_they_were(
        fleet, run_playbook_on_fleet, fleet_requests):
    files = ["/etc/nginx/nginx.conf", "/etc/nginx/sites-available/example.test.conf",
             f"/etc/nginx/sites-available/{SECURE}.conf"]
    refused_by_nginx(fleet, run_playbook_on_fleet, fleet_requests, CONVERGE, SITE, files,
                     {"nginx_proxy_upstreams": ["no-such-host.invalid:8000"]}, "host not found in upstream")


def test_check_mode_with_diff_changes_nothing_and_never_shows_the_key(fleet, run_playbook_on_fleet):
    keys = [host.file(f"/etc/nginx/tls/{SECURE}.key").content_string.strip().splitlines()[1]
            for host in fleet.values()]
    run = run_playbook_on_fleet(CONVERGE, "--check", "--diff")
    assert run.rc == 0, run.output[-3000:]
    assert set(run.changed.values()) == {0}, run.output[-3000:]
    for key in keys:
        assert key not in run.output


def test_gixy_finds_nothing_in_the_rendered_configuration(host, tmp_path):
    # The whole configuration as nginx reads it (every include inlined),
    # analysed on the controller by gixy-ng from the development toolchain.
    dump = tmp_path / "nginx-T.conf"
    dump.write_text(host.check_output("nginx -T 2>/dev/null"))
    result = subprocess.run(["gixy", "--format", "json", str(dump)],
                            capture_output=True, text=True, timeout=120, check=False)
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)
    assert result.returncode == 0, result.stderr


def test_gixy_does_find_a_known_mistake(tmp_path):
    """The analyser itself works: a header redefined in a location drops the
    server's security headers, which gixy reports (and exits non-zero)."""
    known = tmp_path / "known-bad.conf"
    known.write_text("http { server_tokens off; server { listen 80; add_header X-Frame-Options DENY;"
                     " location / { add_header X-Extra 1; } } }\n")
    result = subprocess.run(["gixy", "--format", "json", str(known)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert [finding["plugin"] for finding in json.loads(result.stdout)] == ["add_header_redefinition"]
