"""The fleet: a proxy in front of two application servers, under load.

Converged with site.yml at v1 (idempotence checked by Molecule on all three
hosts). With a bounded request loop from this machine through the proxy's
port published on 127.0.0.1 during each step: a rolling deploy of v2 (from
v1), after which the proxy still serves v1's own stylesheet; a deploy of a release whose health check fails, stopped at the first
host (from v2); rollback.yml back to v1 on the whole fleet (from v2); a
branch that moves between the two servers' turns; a firewall that shuts the
proxy out; requests straight to an application server's port from
elsewhere (refused), and through the proxy (the real client seen); one
application server stopped outright (at v1, started again afterwards); a
scheduled job added by a deploy, run by the first application server only.
Each test starts from the release it names, deployed first when another
test left a different one live.
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from conftest import GUNICORN_EXPOSURE_TARGET, NGINX_EXPOSURE_TARGET, exposure, live

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
DEPLOY = PROJECT / "playbooks" / "deploy.yml"
ROLLBACK = PROJECT / "playbooks" / "rollback.yml"
SITE = PROJECT / "playbooks" / "site.yml"
DOMAIN = "hello.test"
ROOT = "/srv/hello"
PROXY, APP1, APP2 = "flaskops-multihost-proxy", "flaskops-multihost-app1", "flaskops-multihost-app2"
ADDRESS = {PROXY: "10.89.77.10", APP1: "10.89.77.21", APP2: "10.89.77.22"}
PRE_SWITCH = f"{ROOT}/shared/instance/pre-switch"


@pytest.fixture(scope="module")
def site_url():
    """The proxy's port 80, as published on 127.0.0.1."""
    published = subprocess.run(["podman", "port", PROXY, "80/tcp"], check=True,
                               capture_output=True, text=True).stdout.split()
    port = next(entry for entry in published if entry.startswith("127.0.0.1:")).split(":")[1]
    return f"http://127.0.0.1:{port}/"


def served(fleet, requests=20):
    """Releases the application servers answer with, asked through the proxy."""
    seen = set()
    for _ignored in range(requests):
        body = fleet[PROXY].check_output(
            f"curl --silent --fail --max-time 5 --header 'Host: {DOMAIN}' http://127.0.0.1/")
        seen.add(json.loads(body)["release"])
    return seen


STATIC_STORE = "/var/www/flaskops-static/hello"


def static_answer(fleet, name):
    """Status and body of /static/NAME, asked through the proxy."""
    result = fleet[PROXY].run(f"curl --silent --max-time 5 --write-out '\\n%{{http_code}}' "
                              f"--header 'Host: {DOMAIN}' http://127.0.0.1/static/{name}")
    body, _sep, status = result.stdout.rpartition("\n")
    return status, body.strip()


def static_releases(fleet):
    """The releases whose static files the proxy keeps: {"current": commit,
    "previous": commit}, and the folders it holds."""
    proxy = fleet[PROXY]
    links = {link: proxy.file(f"{STATIC_STORE}/{link}").linked_to.rsplit("/", 1)[1]
             for link in ("current", "previous") if proxy.file(f"{STATIC_STORE}/{link}").exists}
    folders = sorted(proxy.check_output(f"find {STATIC_STORE} -mindepth 1 -maxdepth 1 -type d -printf '%f\\n'").split())
    return links, folders


def under_load(local_request_loop, site_url, action, label):
    """Run ACTION while requests go through the proxy; return (result, report)."""
    stop = local_request_loop(site_url, DOMAIN)
    result = action()
    time.sleep(1)  # requests after the change, too
    report = stop()
    print(f"{label}: requests through the proxy: {report}")
    return result, report


def pre_switch_runs(host):
    return host.file(PRE_SWITCH).content_string.split() if host.file(PRE_SWITCH).exists else []


@pytest.fixture
def v1_live(make_live):
    """v1, the converged release, live on both application servers."""
    make_live(DEPLOY, "v1")


@pytest.fixture
def v2_live(make_live):
    """v2 live on both application servers, deployed over v1."""
    make_live(DEPLOY, "v2")


def wait_until_the_proxy_reaches(fleet, app, seconds=120):
    """Wait until the proxy gets an answer from APP's gunicorn (after APP's restart)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and fleet[PROXY].run(
            f"curl --silent --fail --max-time 2 http://{ADDRESS[app]}:8000/healthz").rc != 0:
        time.sleep(1)


@pytest.fixture
def app2_started_again(fleet):
    """For a test that stops app2: started again afterwards, answering the
    proxy (it keeps its hardware address: testbed/instance.sh)."""
    yield
    subprocess.run(["podman", "start", APP2], check=True, capture_output=True)
    wait_until_the_proxy_reaches(fleet, APP2)
    assert fleet[PROXY].run(f"curl --silent --fail --max-time 5 http://{ADDRESS[APP2]}:8000/healthz").rc == 0


def test_nginx_lists_every_application_server_from_the_inventory(fleet):
    site = fleet[PROXY].file("/etc/nginx/sites-available/hello.test.conf").content_string
    for app in (APP1, APP2):
        assert f"server {ADDRESS[app]}:8000 max_fails=1 fail_timeout=10s;" in site
    assert "proxy_next_upstream error timeout http_502 http_503;" in site


def test_gunicorn_listens_on_the_private_address_only(fleet):
    for app in (APP1, APP2):
        listeners = fleet[app].check_output("ss -Htln 'sport = :8000'").split("\n")
        assert {line.split()[3] for line in listeners} == {f"{ADDRESS[app]}:8000"}


def test_the_services_run_in_their_sandboxes_on_debian_12(fleet):
    """The single-host gunicorn scenario scores the sandbox on Debian 13 only."""
    for app in (APP1, APP2):
        assert exposure(fleet[app], "hello.service") <= GUNICORN_EXPOSURE_TARGET
    assert exposure(fleet[PROXY], "nginx.service") <= NGINX_EXPOSURE_TARGET


@pytest.mark.usefixtures("v1_live")
def test_a_rolling_deploy_of_v2_loses_no_request(fleet, run_playbook_on_fleet, commit, site_url, local_request_loop):
    before = {app: pre_switch_runs(fleet[app]) for app in (APP1, APP2)}
    run, report = under_load(local_request_loop, site_url, lambda: run_playbook_on_fleet(
        DEPLOY, "-e", "flask_app_version=v2"), "(a) rolling deploy of v2")
    assert run.rc == 0, run.output[-3000:]
    assert report["sent"] > 100
    assert report["failed"] == 0, report["errors"]
    for app in (APP1, APP2):
        assert live(fleet[app]) == f"{ROOT}/releases/{commit('v2')}"
    assert served(fleet) == {"v2"}
    # The proxy answers static files itself: v2's, and v1's for a page
    # loaded before the deploy, though no application server has v1 now.
    assert static_answer(fleet, "app-v2.css") == ("200", "/* v2 */")
    assert static_answer(fleet, "app-v1.css") == ("200", "/* v1 */")
    assert static_answer(fleet, "hello.css")[0] == "200"
    assert static_answer(fleet, "no-such-file.css")[0] == "404", "the application's answer"
    assert static_releases(fleet) == ({"current": commit("v2"), "previous": commit("v1")},
                                      sorted([commit("v1"), commit("v2")]))
    # One host at a time: app1's whole batch, then app2's.
    handed_over = [part.split("TASK [", 1)[0].split()
                   for part in run.output.split("TASK [flaskops.stack.gunicorn : Hand gunicorn over")[1:]]
    assert [[word for word in words if word.startswith("[flaskops")] for words in handed_over] == [
        [f"[{APP1}]"], [f"[{APP2}]"]]
    # The migration ran once, on the first server.
    assert pre_switch_runs(fleet[APP1]) == before[APP1] + [APP1]
    assert pre_switch_runs(fleet[APP2]) == before[APP2] == []


@pytest.mark.usefixtures("v2_live")
def test_a_broken_release_stops_at_the_first_host(fleet, run_playbook_on_fleet, commit, site_url, local_request_loop):
    run, report = under_load(local_request_loop, site_url, lambda: run_playbook_on_fleet(
        DEPLOY, "-e", "flask_app_version=health-500"), "(b) broken v3")
    assert run.rc != 0
    assert "answered 500 on gunicorn_health_path" in run.output
    assert report["failed"] == 0, report["errors"]
    assert live(fleet[APP1]) == f"{ROOT}/releases/{commit('v2')}"
    assert live(fleet[APP2]) == f"{ROOT}/releases/{commit('v2')}"
    assert commit("health-500") not in fleet[APP2].check_output(f"ls {ROOT}/releases"), "untouched"
    assert run.changed[APP2] == 0, "app2's batch never started"
    assert served(fleet) == {"v2"}


@pytest.mark.usefixtures("v2_live")
def test_rollback_takes_the_whole_fleet_back_to_v1(fleet, run_playbook_on_fleet, commit, site_url, local_request_loop):
    run, report = under_load(local_request_loop, site_url, lambda: run_playbook_on_fleet(ROLLBACK), "(c) rollback to v1")
    assert run.rc == 0, run.output[-3000:]
    assert report["failed"] == 0, report["errors"]
    for app in (APP1, APP2):
        assert live(fleet[app]) == f"{ROOT}/releases/{commit('v1')}"
    assert served(fleet) == {"v1"}
    # The static files follow: v1's live, v2's behind them.
    assert static_releases(fleet)[0] == {"current": commit("v1"), "previous": commit("v2")}
    assert static_answer(fleet, "app-v2.css") == ("200", "/* v2 */")
    assert static_answer(fleet, "app-v1.css") == ("200", "/* v1 */")


def test_a_version_is_resolved_once_for_the_fleet_while_its_branch_moves(
        fleet, run_playbook_on_fleet, commit, site_url, local_request_loop):
    """Each application server has its own copy of the repository here:
    "moving" names v2 on app1 and v3 on app2, as a branch that moved between
    the two servers' turns. The fleet deploys the one commit app1 resolved."""
    fleet[APP1].run_expect([0], f"git -C /srv/git/hello.git branch --force moving {commit('v2')}")
    fleet[APP2].run_expect([0], f"git -C /srv/git/hello.git branch --force moving {commit('v3')}")
    run, report = under_load(local_request_loop, site_url, lambda: run_playbook_on_fleet(
        DEPLOY, "-e", "flask_app_version=moving"), "(c2) rolling deploy of a moving branch")
    assert run.rc == 0, run.output[-3000:]
    assert report["failed"] == 0, report["errors"]
    for app in (APP1, APP2):
        assert live(fleet[app]) == f"{ROOT}/releases/{commit('v2')}", app
    assert served(fleet) == {"v2"}


def test_a_firewall_that_shuts_the_proxy_out_stops_the_run_at_its_first_server(
        fleet, run_playbook_on_fleet, site_url, local_request_loop):
    """app1's own checks go over its loopback and pass; the proxy's check
    does not, and the run stops before app2. The site keeps answering (nginx
    sends app1's share to app2), and the next right run opens the port."""
    wrong = json.dumps({"gunicorn_allowed_clients": ["10.89.77.99"]})
    run, report = under_load(local_request_loop, site_url, lambda: run_playbook_on_fleet(SITE, "-e", wrong),
                             "(c3) a firewall that shuts the proxy out")
    assert run.rc != 0
    assert f"{PROXY} cannot connect to gunicorn_bind" in run.output, run.output[-3000:]
    assert "gunicorn_allowed_clients" in run.output
    assert run.changed[APP2] == 0, "app2's batch never started"
    assert report["failed"] == 0, report["errors"]
    assert fleet[PROXY].run(f"curl --silent --max-time 5 http://{ADDRESS[APP1]}:8000/healthz").rc == 7
    run, report = under_load(local_request_loop, site_url, lambda: run_playbook_on_fleet(SITE),
                             "(c3) site.yml puts it right")
    assert run.rc == 0, run.output[-3000:]
    assert report["failed"] == 0, report["errors"]
    assert fleet[PROXY].run(f"curl --silent --fail --max-time 5 http://{ADDRESS[APP1]}:8000/healthz").rc == 0


def test_the_app_port_refuses_anyone_but_the_proxy(fleet):
    # From the other application server, with a forged client address: the
    # connection is reset (curl: 7, "Failed to connect").
    spoof = fleet[APP2].run(
        f"curl --silent --show-error --max-time 5 --header 'X-Forwarded-For: 198.51.100.66' "
        f"http://{ADDRESS[APP1]}:8000/")
    print(f"(e) app2 -> app1:8000 with a forged X-Forwarded-For: curl rc={spoof.rc} {spoof.stderr.strip()}")
    assert spoof.rc == 7, f"app2 reached app1's gunicorn: {spoof.stdout}"
    # The proxy gets through, and the server itself (its own checks).
    for client in (PROXY, APP1):
        allowed = fleet[client].run(f"curl --silent --fail --max-time 5 http://{ADDRESS[APP1]}:8000/healthz")
        assert allowed.rc == 0, allowed.stderr
    # What it is: the role's own table, loaded by a unit at boot.
    assert fleet[APP1].service("hello-firewall.service").is_enabled


def test_a_rule_set_flushed_by_the_hosts_own_firewall_is_restored_by_the_next_run(fleet, run_playbook_on_fleet):
    # What "systemctl restart nftables" does with Debian's /etc/nftables.conf.
    fleet[APP1].run_expect([0], "nft flush ruleset")
    run = run_playbook_on_fleet(SITE, "--limit", APP1)
    assert run.rc == 0, run.output[-3000:]
    spoof = fleet[APP2].run(f"curl --silent --max-time 5 http://{ADDRESS[APP1]}:8000/healthz")
    assert spoof.rc == 7, "the app port is open again"


def test_the_firewall_is_loaded_at_boot(fleet):
    subprocess.run(["podman", "restart", "--time", "10", APP1], check=True, capture_output=True)
    wait_until_the_proxy_reaches(fleet, APP1)
    assert fleet[PROXY].run(f"curl --silent --fail --max-time 5 http://{ADDRESS[APP1]}:8000/healthz").rc == 0
    assert fleet[APP1].run("nft list table inet flaskops_hello").rc == 0
    spoof = fleet[APP2].run(f"curl --silent --max-time 10 http://{ADDRESS[APP1]}:8000/healthz")
    assert spoof.rc == 7, "after a reboot the app port belongs to the proxy again"


def test_through_the_proxy_the_app_sees_the_real_client(fleet):
    body = fleet[APP2].check_output(
        f"curl --silent --fail --max-time 5 --header 'Host: {DOMAIN}' "
        f"--header 'X-Forwarded-For: 198.51.100.66' http://{ADDRESS[PROXY]}/")
    assert json.loads(body)["client"] == ADDRESS[APP2]


def test_two_thousand_clients_at_once_through_the_proxy_are_all_answered(fleet, record):
    """The fleet's proxy, with its upstreams on other hosts: wrk on the proxy
    (load stays on the scenario's own network), bounded in time."""
    out = fleet[PROXY].check_output(
        f"ulimit -n 20000; wrk --threads 2 --connections 2000 --duration 10s --timeout 30s "
        f"--header 'Host: {DOMAIN}' http://127.0.0.1/")
    print(out)
    answers = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = (sum(int(n) for n in errors.groups()) if errors else 0) + (int(non_2xx.group(1)) if non_2xx else 0)
    record("2000 concurrent keep-alive clients through the fleet's proxy for 10 s (wrk)", PROXY,
           sent=answers, failed=failed)
    assert answers > 2000, out
    assert failed == 0, out


@pytest.mark.usefixtures("v1_live", "app2_started_again")
def test_one_application_server_stopped_outright_leaves_the_site_answering(fleet, site_url, local_request_loop):
    stop = local_request_loop(site_url, DOMAIN)
    time.sleep(2)
    subprocess.run(["podman", "stop", "--time", "0", APP2], check=True, capture_output=True)
    time.sleep(20)
    report = stop()
    print(f"(d) app2 stopped outright: requests through the proxy: {report}")
    assert report["sent"] > 100
    assert report["failed"] == 0, report["errors"]
    assert served(fleet) == {"v1"}


TICKS = f"{ROOT}/shared/instance/ticks.jsonl"


@pytest.mark.usefixtures("v1_live")
def test_a_scheduled_job_runs_on_one_application_server_only(
        fleet, run_playbook_on_fleet, site_url, local_request_loop):
    """flask_app_timers on a fleet: the first server of group app runs the
    job, from its live release; the other has none of its units."""
    timers = {"tick": {"command": "python hello_tick.py", "on_calendar": "*:*:0/2"}}
    for host in (fleet[APP1], fleet[APP2]):
        host.run_expect([0], f"rm -f {TICKS}")
    try:
        run, report = under_load(local_request_loop, site_url, lambda: run_playbook_on_fleet(
            DEPLOY, "-e", json.dumps({"flask_app_version": "v1", "flask_app_timers": timers})),
            "(h) a deploy adding a scheduled job")
        assert run.rc == 0, run.output[-3000:]
        assert report["sent"] > 0 and report["failed"] == 0, report["errors"]
        assert fleet[APP1].service("hello-tick.timer").is_running
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not fleet[APP1].file(TICKS).exists:
            time.sleep(1)
        ticks = [json.loads(line) for line in fleet[APP1].file(TICKS).content_string.splitlines()]
        assert ticks and {tick["release"] for tick in ticks} == {"v1"}
        for unit in ("hello-tick.timer", "hello-tick.service"):
            assert not fleet[APP2].file(f"/etc/systemd/system/{unit}").exists, unit
        time.sleep(3)
        assert not fleet[APP2].file(TICKS).exists, "the job ran on the second server too"
    finally:
        run = run_playbook_on_fleet(DEPLOY, "-e", json.dumps({"flask_app_version": "v1", "flask_app_timers": {}}))
        assert run.rc == 0, run.output[-3000:]
    assert not fleet[APP1].file("/etc/systemd/system/hello-tick.timer").exists
