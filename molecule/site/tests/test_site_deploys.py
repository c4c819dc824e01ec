"""site.yml in check mode and at -vvv, then releases that cannot take the site down.

On the converged stack. Each test runs one playbook against every host of
the scenario at once (each host a whole stack of its own; today one, Debian
13), with a request loop through nginx on each when it touches the site,
then checks every host. Each starts from the state it needs, set up by a
fixture when another test left a different one: site.yml as the converge
left it, v3 live, v2 deployed over v3, or a rollback from there back to v3.
The tests: site.yml after paths each role manages were changed by hand
(each put back), site.yml with --check --diff (no change), site.yml at
-vvv --diff with a new secret (never printed, and the running app has
it); then deploy.yml and rollback.yml: nothing to roll back to; a first
deploy whose health path does not exist; a release whose health path
answers 500 and one that does not import (both refused before anything
the live service reads changes); one that fails only as the service
(rolled back); a deploy of v2 made to take 3 s to import (no pause); then
rollback.yml from v2 to the release before it (v3), again (no change), to
v2 by name, and to a version no longer kept.
"""

import json
import os
import shlex
from pathlib import Path

import pytest
from conftest import deploy_history, live, main_pid

DOMAIN = "hello.test"
ROOT = "/srv/hello"
ENV_FILE = f"{ROOT}/shared/hello.env"
PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
SITE = PROJECT / "playbooks" / "site.yml"
DEPLOY = PROJECT / "playbooks" / "deploy.yml"
CONVERGED_SECRET = "site-scenario-secret"  # molecule.yml's flask_app_secret_env
ROLLBACK = PROJECT / "playbooks" / "rollback.yml"
ENV = {"HELLO_TRUSTED_HOPS": "1"}
SLOW_ENV = {"HELLO_TRUSTED_HOPS": "1", "HELLO_IMPORT_SECONDS": "3"}
SECRETS = {"SECRET_KEY": "deploys-secret"}
NO_PAUSE_MS = 1000
# Both stacks in one batch: they are independent, and one run is faster.
BOTH = {"flaskops_app_serial": 2}


def served_release(host):
    body = host.check_output(f"curl --silent --fail --max-time 5 --header 'Host: {DOMAIN}' http://127.0.0.1/")
    return json.loads(body)["release"]


def state(host):
    """What a refused release must leave exactly as it was: the live release,
    every release kept, the environment, the master and its configuration."""
    return {"live": live(host), "env": host.file(ENV_FILE).content_string, "main_pid": main_pid(host),
            "config": host.file("/etc/gunicorn/hello.conf.py").sha256sum}


def kept(host):
    """The releases on the host, with the time each was built."""
    return set(host.check_output(f"stat -c '%n %Y' {ROOT}/releases/*/.venv/.flaskops-built").splitlines())


def states(fleet):
    return {name: state(host) for name, host in fleet.items()}


def deploy(run_playbook_on_fleet, **variables):
    variables = {"flask_app_env": ENV, "flask_app_secret_env": SECRETS, **BOTH, **variables}
    return run_playbook_on_fleet(DEPLOY, "-e", json.dumps(variables))


def rollback(run_playbook_on_fleet, **variables):
    return run_playbook_on_fleet(ROLLBACK, "-e", json.dumps({**BOTH, **variables}))


def last_deploys(host):
    """The releases of the last two deploys recorded, the latest last."""
    return [entry["release"] for entry in deploy_history(host)][-2:]


@pytest.fixture
def v3_live(make_live):
    """v3 (the converged main) live, as a deploy leaves it."""
    make_live(DEPLOY, "v3", flask_app_env=ENV, flask_app_secret_env=SECRETS, **BOTH)


def after_v2_over_v3(fleet, commit, version):
    """Whether VERSION is live on every host and the last two deploys
    recorded are v3's then v2's; each host's live release and last two
    deploys, for the message when not."""
    found = {name: (live(host), last_deploys(host)) for name, host in fleet.items()}
    wanted = (f"{ROOT}/releases/{commit(version)}", [commit("v3"), commit("v2")])
    return all(seen == wanted for seen in found.values()), found


@pytest.fixture
def v2_over_v3(fleet, commit, make_live, run_playbook_on_fleet):
    """v2 live, deployed over v3: the release a rollback goes back to."""
    if after_v2_over_v3(fleet, commit, "v2")[0]:
        return
    make_live(DEPLOY, "v3", flask_app_env=ENV, flask_app_secret_env=SECRETS, **BOTH)
    run = deploy(run_playbook_on_fleet, flask_app_version="v2")
    assert run.rc == 0, run.output[-3000:]
    ready, found = after_v2_over_v3(fleet, commit, "v2")
    assert ready, (f"live release and last two deploys: {found}", run.output[-3000:])


@pytest.fixture
def rolled_back_to_v3(request, fleet, commit, run_playbook_on_fleet):
    """v3 live again after a rollback from v2 deployed over it."""
    if after_v2_over_v3(fleet, commit, "v3")[0]:
        return
    request.getfixturevalue("v2_over_v3")
    run = rollback(run_playbook_on_fleet)
    assert run.rc == 0, run.output[-3000:]
    ready, found = after_v2_over_v3(fleet, commit, "v3")
    assert ready, (f"live release and last two deploys: {found}", run.output[-3000:])


@pytest.fixture
def one_release_deployed(fleet):
    """history.json as on a host where one release was ever deployed (the
    converged one, until a test deploys another): the deploys of the live
    release alone. The file is put back afterwards."""
    history, kept_aside = f"{ROOT}/history.json", "/root/flaskops-history.json"
    saved = []
    for host in fleet.values():
        deploys = deploy_history(host)
        if len({entry["release"] for entry in deploys}) > 1:
            release = live(host).rsplit("/", 1)[1]
            alone = [entry for entry in deploys if entry["release"] == release]
            assert alone, f"no deploy of the live release {release} is recorded"
            host.run_expect([0], f"cp -p {history} {kept_aside} && "
                                 f"printf '%s\\n' {shlex.quote(json.dumps(alone[-1:]))} > {history}")
            saved.append(host)
    yield
    for host in saved:
        host.run_expect([0], f"cp -p {kept_aside} {history} && rm {kept_aside}")


def assert_no_request_failed(reports, slowest_ms=None):
    for name, report in reports.items():
        print(f"{name}: {report}")
        assert report["sent"] > 50, (name, report)
        assert report["failed"] == 0, (name, report["errors"])
        if slowest_ms:
            assert report["max_ms"] < slowest_ms, (name, report)


def hand_edits(host):
    """Paths each role manages, and how a person might change each by hand
    (one per kind of check the roles skip work on: content, mode, a link
    gone, a link added)."""
    release = live(host)
    return {
        "/etc/nginx/nginx.conf": "echo '# edited by hand' >> {path}",
        "/etc/nginx/sites-enabled/default": "ln -s /etc/nginx/sites-available/default {path}",
        "/etc/systemd/system/nginx.service.d/flaskops-restart.conf": "chmod 0600 {path}",
        "/etc/gunicorn/hello.conf.py": "echo '# edited by hand' >> {path}",
        "/usr/local/lib/flaskops": "chmod 0700 {path}",
        f"{ROOT}/shared": "chmod 0755 {path}",
        f"{release}/.git": "chmod 0755 {path}",
        f"{release}/instance": "rm {path}",
    }


def snapshot(host, paths):
    """Each path's type, link target, mode, owner, group and content."""
    taken = {}
    for path in paths:
        node = host.file(path)
        if not node.exists and not node.is_symlink:
            taken[path] = None
        elif node.is_symlink:
            taken[path] = ("link", node.linked_to)
        else:
            taken[path] = (oct(node.mode), node.user, node.group, node.sha256sum if node.is_file else "folder")
    return taken


@pytest.mark.usefixtures("converged_app")
def test_paths_changed_by_hand_are_put_back_while_the_site_answers(
        fleet, fleet_requests, run_playbook_on_fleet):
    # The roles read what they manage once and skip what is already as
    # wanted: a path changed since must still get its task.
    edited = {}
    for name, host in fleet.items():
        edits = hand_edits(host)
        before = snapshot(host, edits)
        for path, command in edits.items():
            host.run_expect([0], command.format(path=path))
        after = snapshot(host, edits)
        assert all(after[path] != before[path] for path in edits), (before, after)
        edited[name] = (edits, before)
    requests = fleet_requests(DOMAIN)
    run = run_playbook_on_fleet(SITE)
    reports = requests()
    assert run.rc == 0, run.output[-3000:]
    assert all(changed and changed > 0 for changed in run.changed.values()), run.output[-3000:]
    assert_no_request_failed(reports)
    for name, host in fleet.items():
        edits, before = edited[name]
        assert snapshot(host, edits) == before


@pytest.mark.usefixtures("converged_app")
def test_check_mode_with_diff_on_the_converged_hosts_changes_nothing(run_playbook_on_fleet):
    run = run_playbook_on_fleet(SITE, "--check", "--diff")
    assert run.rc == 0, run.output[-3000:]
    assert set(run.changed.values()) == {0}, run.output[-3000:]


def master_environment(host):
    return host.check_output(f"tr '\\0' '\\n' < /proc/{main_pid(host)}/environ").splitlines()


@pytest.mark.usefixtures("converged_app")
def test_deploying_a_new_secret_never_prints_it_even_with_diff_and_vvv(fleet, run_playbook_on_fleet):
    new_secret = "deployed-at-vvv-secret-4f1c"
    secrets = json.dumps({"flask_app_secret_env": {"SECRET_KEY": new_secret}})
    run = run_playbook_on_fleet(SITE, "--diff", "-vvv", "-e", secrets)
    assert run.rc == 0, run.output[-3000:]
    assert all(changed and changed > 0 for changed in run.changed.values()), "the env file changed: say so"
    assert "WSGI application loads" in run.output, "the import check ran as the app user"
    assert new_secret not in run.output
    assert CONVERGED_SECRET not in run.output
    for host in fleet.values():
        # gunicorn restarted with the new secret.
        assert f"SECRET_KEY={new_secret}" in master_environment(host)
        assert f"SECRET_KEY={CONVERGED_SECRET}" not in master_environment(host)


@pytest.mark.usefixtures("one_release_deployed")
def test_rollback_with_nothing_to_go_back_to_stops_and_changes_nothing(fleet, run_playbook_on_fleet):
    before = states(fleet)
    run = rollback(run_playbook_on_fleet)
    assert run.rc != 0
    assert "Nothing to roll back to" in run.output
    assert "only one release" in run.output
    assert set(run.changed.values()) == {0}, run.output[-3000:]
    assert states(fleet) == before


def test_a_first_deploy_whose_health_path_is_missing_says_so_before_going_live(
        fleet, run_playbook_on_fleet):
    run = deploy(run_playbook_on_fleet, flask_app_name="fresh", gunicorn_bind="127.0.0.1:8001",
                 gunicorn_health_path="/no-such-page")
    assert run.rc != 0
    assert 'answered 404 on gunicorn_health_path "/no-such-page"' in run.output, run.output[-3000:]
    assert "set gunicorn_health_path to a page it serves" in run.output
    for host in fleet.values():
        assert not host.file("/srv/fresh/current").exists
        assert not host.file("/srv/fresh/shared/fresh.env").exists
        assert not host.file("/etc/systemd/system/fresh.service").exists
        assert host.run("systemctl is-active fresh-gate.service").stdout.strip() != "active"


@pytest.mark.parametrize(("version", "said"), [
    ("health-500", "answered 500 on gunicorn_health_path"),
    ("broken-import", "this release is broken on purpose"),
])
def test_a_bad_release_is_refused_before_anything_live_changes(
        fleet, run_playbook_on_fleet, fleet_requests, version, said):
    before = states(fleet)
    releases = {name: kept(host) for name, host in fleet.items()}
    requests = fleet_requests(DOMAIN)

    # With a changed environment too: it must not reach the live file.
    run = deploy(run_playbook_on_fleet, flask_app_version=version,
                 flask_app_env={**ENV, "REFUSED": "never-live"})

    assert_no_request_failed(requests())
    assert run.rc != 0
    assert said in run.output, run.output[-3000:]
    # Both releases quote SECRET_KEY (in the answer, in the traceback): the
    # play shows where, never what.
    assert SECRETS["SECRET_KEY"] not in run.output
    assert "********" in run.output, run.output[-3000:]
    assert states(fleet) == before
    for name, host in fleet.items():
        assert not host.file(f"{ENV_FILE}.staged").exists
        # Every release kept before is kept, untouched: a refused deploy prunes nothing.
        assert releases[name] <= kept(host)


@pytest.mark.usefixtures("v3_live")
def test_a_release_that_fails_only_as_the_service_is_rolled_back(
        fleet, run_playbook_on_fleet, fleet_requests):
    before = states(fleet)
    requests = fleet_requests(DOMAIN)

    run = deploy(run_playbook_on_fleet, flask_app_version="fails-as-service")

    assert_no_request_failed(requests())
    assert run.rc != 0
    assert "this release fails only as hello.service" in run.output, run.output[-3000:]
    for name, host in fleet.items():
        assert f"rolled back to {before[name]['live']}" in run.output
        assert live(host) == before[name]["live"]
        assert host.file(ENV_FILE).content_string == before[name]["env"]
        assert served_release(host) == "v3"


@pytest.mark.usefixtures("v3_live")
def test_a_deploy_of_an_app_slow_to_import_never_pauses_the_site(
        fleet, run_playbook_on_fleet, fleet_requests, commit):
    version = "v2"
    pids = {name: main_pid(host) for name, host in fleet.items()}
    requests = fleet_requests(DOMAIN)

    run = deploy(run_playbook_on_fleet, flask_app_version=version, flask_app_env=SLOW_ENV)

    assert_no_request_failed(requests(), slowest_ms=NO_PAUSE_MS)
    assert run.rc == 0, run.output[-3000:]
    for name, host in fleet.items():
        assert live(host) == f"{ROOT}/releases/{commit(version)}"
        assert served_release(host) == version
        assert main_pid(host) != pids[name], "a new master serves the new release"


def venv_stamps(host):
    return host.check_output(f"stat -c '%n %Y' {ROOT}/releases/*/.venv/.flaskops-built")


@pytest.mark.usefixtures("v2_over_v3")
def test_rollback_goes_back_to_the_converged_release_without_pip_and_without_failing_a_request(
        fleet, run_playbook_on_fleet, fleet_requests, commit):
    stamps = {name: venv_stamps(host) for name, host in fleet.items()}
    requests = fleet_requests(DOMAIN)

    run = rollback(run_playbook_on_fleet)

    assert_no_request_failed(requests(), slowest_ms=NO_PAUSE_MS)
    assert run.rc == 0, run.output[-3000:]
    assert "Install the release's dependencies" not in run.output
    assert "Run the pre-switch commands" not in run.output
    for name, host in fleet.items():
        assert live(host) == f"{ROOT}/releases/{commit('v3')}"
        assert served_release(host) == "v3"
        assert venv_stamps(host) == stamps[name], "no virtualenv was rebuilt"


@pytest.mark.usefixtures("rolled_back_to_v3")
def test_rolling_back_again_changes_nothing(fleet, run_playbook_on_fleet, commit):
    run = rollback(run_playbook_on_fleet)
    assert run.rc == 0, run.output[-3000:]
    assert set(run.changed.values()) == {0}, run.output[-3000:]
    for host in fleet.values():
        assert live(host) == f"{ROOT}/releases/{commit('v3')}"


@pytest.mark.usefixtures("rolled_back_to_v3")
def test_rollback_to_a_named_release_goes_forward_to_v2(
        fleet, run_playbook_on_fleet, fleet_requests, commit):
    requests = fleet_requests(DOMAIN)

    run = rollback(run_playbook_on_fleet, flask_app_rollback_to="v2")

    assert_no_request_failed(requests(), slowest_ms=NO_PAUSE_MS)
    assert run.rc == 0, run.output[-3000:]
    for host in fleet.values():
        assert live(host) == f"{ROOT}/releases/{commit('v2')}"
        assert served_release(host) == "v2"


def test_rollback_to_a_release_not_kept_changes_nothing(fleet, run_playbook_on_fleet):
    before = states(fleet)
    run = rollback(run_playbook_on_fleet, flask_app_rollback_to="v9")
    assert run.rc != 0
    assert "no release kept on this host was deployed as 'v9'" in run.output
    assert set(run.changed.values()) == {0}
    assert states(fleet) == before
