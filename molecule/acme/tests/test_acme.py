"""nginx_proxy with certificates from a real ACME server (Pebble).

Converged once (HTTP first, the certificate from Pebble, then HTTPS, in the
same run) and again by Molecule's idempotence step (nothing issued). Each
nginx host serves <suite>.hello.test and www.<suite>.hello.test, names the
scenario's network resolves to it, so Pebble validates HTTP-01 through the
running nginx. Requests go to 127.0.0.1 on the host, with the site's names
resolved there (curl --resolve) and the certificate checked against
Pebble's root.

A follower of the same site (nginx_proxy_acme_primary), where the site's own
name points, passes Pebble's challenges on to the primary and serves a copy
of its certificate; a renewal on the primary reaches it at the next run.
"""

import json
import os
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import main_pid

CONVERGE = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"
PEBBLE = "flaskops-acme-pebble"
# The second proxy of the primary's site (trixie.hello.test).
PRIMARY = "flaskops-acme-trixie"
FOLLOWER = "flaskops-acme-follower"
FLEET_SITE = "trixie.hello.test"
ROOT_CA = "/usr/local/share/pebble-root.pem"
SERVER_CA = "/usr/local/share/flaskops-acme-server-ca.pem"
WEBROOT = "/var/www/flaskops-acme"


@pytest.fixture(scope="module")
def pebble_root(fleet):
    """Pebble's issuing root (a new one each time Pebble starts)."""
    return fleet[PEBBLE].check_output("curl --silent --insecure https://127.0.0.1:15000/roots/0")


def web_hosts(fleet):
    """The nginx hosts that get their own certificate, by site name."""
    return {name.rsplit("-", 1)[1] + ".hello.test": host for name, host in fleet.items() if name not in (PEBBLE, FOLLOWER)}


@pytest.fixture(scope="module")
def trusted(fleet, pebble_root):
    """Pebble's root installed on the nginx hosts, for curl and the request loop."""
    for host in [*web_hosts(fleet).values(), fleet[FOLLOWER]]:
        host.run_expect([0], f"printf '%s\\n' {shlex.quote(pebble_root)} > {ROOT_CA}")


@pytest.fixture
def site(host, trusted):
    """This host's site name."""
    return host.backend.get_hostname().rsplit("-", 1)[1] + ".hello.test"


def curl(host, url, name, *options):
    """curl on the host, NAME and www.NAME resolved to 127.0.0.1, Pebble's root trusted."""
    return host.run(
        f"curl --silent --show-error --max-time 10 --cacert {ROOT_CA} "
        f"--resolve {name}:443:127.0.0.1 --resolve www.{name}:443:127.0.0.1 "
        f"--resolve {name}:80:127.0.0.1 --resolve www.{name}:80:127.0.0.1 "
        + " ".join(options) + f" {shlex.quote(url)}")


def certificate_names(host, site):
    """The names of the certificate certbot holds for SITE."""
    names = host.check_output(f"openssl x509 -in /etc/letsencrypt/live/{site}/cert.pem -noout -ext subjectAltName")
    return sorted(part.strip() for part in names.splitlines()[1].split(","))


@pytest.fixture
def issued_for_the_converged_names(fleet, run_playbook_on_fleet):
    """Each site's certificate for its apex and www alone, as the converge
    had it issued: converged again when a test added a name."""
    def differ():
        return {site: names for site, host in web_hosts(fleet).items()
                if (names := certificate_names(host, site)) != [f"DNS:{site}", f"DNS:www.{site}"]}

    if differ():
        run = run_playbook_on_fleet(CONVERGE)
        assert run.rc == 0, run.output[-3000:]
        assert not differ(), (f"certificates' names after the converge: {differ()}", run.output[-3000:])


def served_certificate(host, name):
    """Serial and names of the certificate nginx presents for NAME."""
    return host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} </dev/null 2>/dev/null"
        " | openssl x509 -noout -serial -ext subjectAltName")


@pytest.mark.usefixtures("issued_for_the_converged_names")
def test_the_certificate_comes_from_the_acme_server_for_apex_and_www(host, site):
    cert = f"/etc/letsencrypt/live/{site}/cert.pem"
    assert certificate_names(host, site) == [f"DNS:{site}", f"DNS:www.{site}"]
    assert "Pebble" in host.check_output(f"openssl x509 -in {cert} -noout -issuer")
    assert "id-ecPublicKey" in host.check_output(f"openssl x509 -in {cert} -noout -text")
    # nginx serves it, and it checks out against Pebble's root.
    assert f"DNS:www.{site}" in served_certificate(host, site)


def test_https_answers_with_the_application_and_hsts(host, site):
    path = f"/hello-{uuid.uuid4().hex}?x=1"
    answer = curl(host, f"https://{site}{path}", site, "--include")
    assert answer.rc == 0, answer.stderr
    head, _ignored, body = answer.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.split()[1] == "200"
    assert "strict-transport-security: max-age=63072000" in head.lower()
    assert json.loads(body)["path"] == path
    assert json.loads(body)["headers"]["x-forwarded-proto"] == "https"


def test_http_redirects_to_https_keeping_path_and_query(host, site):
    for name in (site, f"www.{site}"):
        answer = curl(host, f"http://{name}/a/b?c=1&d=2", site, "--output /dev/null",
                      "--write-out '%{http_code} %{redirect_url}'")
        assert answer.stdout == f"301 https://{site}/a/b?c=1&d=2"


def test_http2_is_negotiated(host, site):
    answer = curl(host, f"https://{site}/", site, "--http2 --output /dev/null --write-out '%{http_version}'")
    assert answer.stdout == "2", answer.stderr


def test_challenges_come_from_the_webroot_before_any_redirect(host, site):
    token = uuid.uuid4().hex
    host.run_expect([0], f"mkdir -p {WEBROOT}/.well-known/acme-challenge && "
                         f"echo {token}.key > {WEBROOT}/.well-known/acme-challenge/{token}")
    try:
        for name in (site, f"www.{site}"):
            answer = curl(host, f"http://{name}/.well-known/acme-challenge/{token}", site, "--fail")
            assert answer.stdout.strip() == f"{token}.key", answer.stderr
    finally:
        host.run(f"rm -f {WEBROOT}/.well-known/acme-challenge/{token}")


def test_other_well_known_paths_reach_the_app_and_dotfiles_stay_hidden(host, site):
    answer = curl(host, f"https://{site}/.well-known/security.txt", site, "--fail")
    assert json.loads(answer.stdout)["path"] == "/.well-known/security.txt"
    for path in ("/.git/config", "/.well-known/.env"):
        answer = curl(host, f"https://{site}{path}", site, "--output /dev/null --write-out '%{http_code}'")
        assert answer.stdout == "404", path


def test_the_account_and_the_keys_are_root_only(host, site):
    for folder in ("/etc/letsencrypt/accounts", "/etc/letsencrypt/archive", "/etc/letsencrypt/live"):
        assert host.file(folder).user == "root"
        assert host.file(folder).mode & 0o077 == 0, folder
    key = host.file(f"/etc/letsencrypt/archive/{site}/privkey1.pem")
    assert key.user == "root" and key.mode & 0o077 == 0


def test_the_distribution_timer_renews(host):
    timer = host.service("certbot.timer")
    assert timer.is_enabled and timer.is_running


def test_a_renewal_reloads_nginx_onto_the_new_certificate_and_loses_no_request(
        host, site, background_requests):
    before = served_certificate(host, site)
    master = main_pid(host, "nginx.service")
    requests = background_requests(site, url="https://127.0.0.1/", cafile=ROOT_CA, interval=0.02)
    renew = host.run(f"REQUESTS_CA_BUNDLE={SERVER_CA} certbot renew --force-renewal "
                     f"--no-random-sleep-on-renew --cert-name {site}")
    report = requests()
    print(f"requests over HTTPS during the renewal: {report}")
    assert renew.rc == 0, renew.stderr
    assert report["sent"] > 20
    assert report["failed"] == 0, report["errors"]
    after = served_certificate(host, site)
    assert after.splitlines()[0] != before.splitlines()[0], "nginx still serves the old serial"
    assert main_pid(host, "nginx.service") == master, "reloaded, not restarted"


def test_the_renewal_hook_leaves_nginx_alone_when_its_configuration_is_broken(host, site):
    before = served_certificate(host, site)
    host.run_expect([0], "echo 'this is not nginx' > /etc/nginx/conf.d/zz-broken.conf")
    try:
        hook = host.run("/etc/letsencrypt/renewal-hooks/deploy/flaskops-nginx-reload")
        assert hook.rc != 0
        assert host.service("nginx").is_running
        assert served_certificate(host, site) == before
    finally:
        host.run("rm -f /etc/nginx/conf.d/zz-broken.conf")


def test_a_changed_name_list_is_issued_once(fleet, trusted, run_playbook_on_fleet):
    aliases = ["-e", json.dumps({"nginx_proxy_server_aliases": ["old.{{ nginx_proxy_server_name }}"]})]
    first = run_playbook_on_fleet(CONVERGE, *aliases)
    assert first.rc == 0, first.output[-3000:]
    for site, host in web_hosts(fleet).items():
        assert f"DNS:old.{site}" in served_certificate(host, site)
    again = run_playbook_on_fleet(CONVERGE, *aliases)
    assert again.rc == 0, again.output[-3000:]
    assert {changed for changed in again.changed.values() if changed is not None} == {0}, again.output[-3000:]


def test_mozilla_intermediate_compliance_by_sslyze(host, site, pebble_root, tmp_path):
    root = tmp_path / "pebble-root.pem"
    root.write_text(pebble_root + "\n")
    published = subprocess.run(["podman", "port", host.backend.get_hostname(), "443/tcp"], check=True,
                               capture_output=True, text=True).stdout.split()
    port = next(entry for entry in published if entry.startswith("127.0.0.1:")).split(":")[1]
    scan = subprocess.run(["sslyze", "--mozilla_config=intermediate", f"--certinfo_ca_file={root}",
                           f"{site}:{port}{{127.0.0.1}}"], capture_output=True, text=True, timeout=300, check=False)
    print(scan.stdout[-2500:])
    assert scan.returncode == 0, scan.stdout[-3000:]


# Adds a site whose certificate cannot be had, on plain HTTP: the other
# tests read the converged site's names alone.
def test_a_name_the_ca_cannot_validate_fails_and_leaves_http_serving(
        fleet, trusted, run_playbook_on_fleet, request_loop):
    hosts = web_hosts(fleet)
    stops = {site: request_loop(host, site, url="https://127.0.0.1/", cafile=ROOT_CA)
             for site, host in hosts.items()}
    run = run_playbook_on_fleet(CONVERGE, "-e", json.dumps({
        "nginx_proxy_server_name": "unvalidated.test", "nginx_proxy_redirect_www": False}))
    reports = {site: stop() for site, stop in stops.items()}
    print(f"requests to the HTTPS sites during the refused run: {reports}")
    assert run.rc != 0
    assert "certbot could not get a certificate for unvalidated.test" in run.output
    assert "unvalidated.test" in run.output.split("certbot said:", 1)[1]
    for site, host in hosts.items():
        assert reports[site]["sent"] > 20
        assert reports[site]["failed"] == 0, reports[site]["errors"]
        # The new site answers over plain HTTP, with the application.
        answer = host.run("curl --silent --fail --max-time 5 --header 'Host: unvalidated.test' http://127.0.0.1/up")
        assert answer.rc == 0 and json.loads(answer.stdout)["path"] == "/up"
        assert not host.file("/etc/letsencrypt/live/unvalidated.test").exists


def test_in_maintenance_the_acme_path_still_answers_and_the_site_does_not(fleet, run_playbook_on_fleet):
    """nginx_proxy_maintenance on every site: HTTPS answers 503 with the
    page, while a challenge file is still served over HTTP (a renewal during
    maintenance works). Then off again."""
    token = uuid.uuid4().hex
    hosts = web_hosts(fleet)
    for host in hosts.values():
        host.run_expect([0], f"mkdir -p {WEBROOT}/.well-known/acme-challenge && "
                             f"echo {token}.key > {WEBROOT}/.well-known/acme-challenge/{token}")
    try:
        run = run_playbook_on_fleet(CONVERGE, "-e", "nginx_proxy_maintenance=true")
        assert run.rc == 0, run.output[-3000:]
        for site, host in hosts.items():
            challenge = curl(host, f"http://{site}/.well-known/acme-challenge/{token}", site, "--fail")
            assert challenge.stdout.strip() == f"{token}.key", challenge.stderr
            page = curl(host, f"https://{site}/", site, "--write-out '\\n%{http_code}'")
            assert page.stdout.endswith("\n503") and "Down for maintenance" in page.stdout, page.stdout
    finally:
        run = run_playbook_on_fleet(CONVERGE)
        for host in hosts.values():
            host.run(f"rm -f {WEBROOT}/.well-known/acme-challenge/{token}")
    assert run.rc == 0, run.output[-3000:]
    for site, host in hosts.items():
        assert curl(host, f"https://{site}/", site, "--fail --output /dev/null").rc == 0


def test_a_follower_passes_challenges_on_to_the_primary_and_serves_its_certificate_without_certbot(fleet, trusted):
    """The site's own name resolves to the follower alone, so the converge's
    certificate was validated through it."""
    follower, primary = fleet[FOLLOWER], fleet[PRIMARY]
    assert fleet[PEBBLE].check_output(f"getent hosts {FLEET_SITE}").split()[0] == "10.89.78.11"
    token = uuid.uuid4().hex
    primary.run_expect([0], f"mkdir -p {WEBROOT}/.well-known/acme-challenge && "
                            f"echo {token}.key > {WEBROOT}/.well-known/acme-challenge/{token}")
    try:
        challenge = curl(follower, f"http://{FLEET_SITE}/.well-known/acme-challenge/{token}", FLEET_SITE, "--fail")
        assert challenge.stdout.strip() == f"{token}.key", challenge.stderr
    finally:
        primary.run(f"rm -f {WEBROOT}/.well-known/acme-challenge/{token}")
    # HTTPS on the follower, with a certificate of the primary's that checks out against Pebble's root.
    answer = curl(follower, f"https://{FLEET_SITE}/up", FLEET_SITE, "--fail")
    assert answer.rc == 0 and json.loads(answer.stdout)["path"] == "/up", answer.stderr
    served = served_certificate(follower, FLEET_SITE)
    assert f"DNS:www.{FLEET_SITE}" in served
    assert "Pebble" in follower.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {FLEET_SITE} </dev/null 2>/dev/null | openssl x509 -noout -issuer")
    # No certbot, no account: the primary alone speaks to the CA.
    assert not follower.exists("certbot")
    assert not follower.file("/etc/letsencrypt").exists
    key = follower.file(f"/etc/nginx/tls/{FLEET_SITE}.key")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)
    assert follower.file("/etc/nginx/tls").mode == 0o700


@pytest.mark.usefixtures("issued_for_the_converged_names")
def test_a_renewal_on_the_primary_reaches_the_follower_at_the_next_run_and_loses_no_request(
        fleet, trusted, run_playbook_on_fleet, request_loop):
    follower, primary = fleet[FOLLOWER], fleet[PRIMARY]
    renew = primary.run(f"REQUESTS_CA_BUNDLE={SERVER_CA} certbot renew --force-renewal "
                        f"--no-random-sleep-on-renew --cert-name {FLEET_SITE}")
    assert renew.rc == 0, renew.stderr
    renewed = served_certificate(primary, FLEET_SITE).splitlines()[0]
    assert served_certificate(follower, FLEET_SITE).splitlines()[0] != renewed, "the follower had it before its run"
    master = main_pid(follower, "nginx.service")
    stop = request_loop(follower, FLEET_SITE, url="https://127.0.0.1/", cafile=ROOT_CA, interval=0.02)
    run = run_playbook_on_fleet(CONVERGE)
    report = stop()
    print(f"requests over HTTPS to the follower during the run that takes the renewed certificate: {report}")
    assert run.rc == 0, run.output[-3000:]
    assert report["sent"] > 20
    assert report["failed"] == 0, report["errors"]
    assert served_certificate(follower, FLEET_SITE).splitlines()[0] == renewed
    assert main_pid(follower, "nginx.service") == master, "reloaded, not restarted"
    # The run issued nothing new: the primary still serves the renewed one.
    assert served_certificate(primary, FLEET_SITE).splitlines()[0] == renewed
    again = run_playbook_on_fleet(CONVERGE)
    assert again.rc == 0 and again.changed[FOLLOWER] == 0, again.output[-3000:]
