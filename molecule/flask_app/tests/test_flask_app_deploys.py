"""flask_app deploying hello through its versions, on every test host at once.

Each test runs hello.yml (the role on its own: it switches by itself)
against all hosts in one run, then checks each host. Each starts from the
release it needs (v2 or v3 live, v3 not built), deployed by a fixture when
another test left a different one live. The tests: v1 (code only, from the
wheelhouse), v2 (pruning) and v2 again (no change), one sequence the first
tests read, from main deployed alone; a branch that does not exist, a
release that does not import, a failing pre-switch command with a new
environment, pre-switch commands that succeed, a wrong git host key, new
extra packages, a user and group of something else, a repository tracking
instance/, an https-style repository with credentials in the URL or as a
token (served by prepare.yml over HTTP), and a -vvv --diff run that must
show no secret.
"""

import json
import os
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import FleetRun, deploy_history, live

ROOT = "/srv/hello"
HELLO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "hello.yml"
SECRET = "molecule-secret-key-value"
WHEELS = "/var/cache/flaskops/hello/wheels"


def releases(host):
    return set(host.check_output(f"ls {ROOT}/releases").split())


def wheelhouses(host):
    return host.check_output(f"ls {WHEELS}").split()


def deploy(run_playbook_on_fleet, **variables):
    return run_playbook_on_fleet(HELLO, "-e", json.dumps(variables))


def task_outcome(output, task):
    """The result lines Ansible printed under the task named ``task``."""
    _ignored, found, rest = output.partition(f"TASK [flaskops.stack.flask_app : {task}]")
    assert found, f"task {task!r} is not in the output"
    return rest.split("TASK [", 1)[0]


class Step(NamedTuple):
    run: FleetRun
    hosts: dict  # host name: its live release, kept releases, wheelhouses and history after the run


def after(host):
    return {"live": live(host), "releases": releases(host), "wheelhouses": wheelhouses(host),
            "history": deploy_history(host)}


def start_problems(host, commit):
    """What keeps HOST from the state the first deploys start from, each
    part named: main live and its release the only one kept (v1 never
    built, or pruned), and one wheelhouse, the one main's virtualenv was
    built from (hello.yml's settings: the role's extra packages, gunicorn),
    which v1 installs from without building."""
    main = f"{ROOT}/releases/{commit('main')}"
    problems = []
    if live(host) != main:
        problems.append(f"current points at {live(host)}, not at main's release {main}")
    others = sorted(releases(host) - {commit("main")})
    if others:
        problems.append(f"releases kept besides main's: {others}"
                        + (" (v1's among them)" if commit("v1") in others else ""))
    stamp = host.file(f"{main}/.venv/.flaskops-built")
    found = wheelhouses(host)
    if not stamp.exists:
        problems.append(f"main's virtualenv has no stamp {stamp.path}")
    elif len(found) != 1 or host.file(f"{WHEELS}/{found[0]}/.complete").content_string != stamp.content_string:
        problems.append(f"wheelhouses {found} in {WHEELS}: not the one main's virtualenv was built from "
                        f"({stamp.content_string.strip()}) alone")
    return problems


@pytest.fixture(scope="module")
def first_deploys(fleet, commit, run_playbook_on_fleet):
    """From main deployed alone, the deploys the next tests read, one after
    the other: v1, v2 keeping two releases, and v2 again. Each step: its
    run, and what it left on every host ("before": the start).

    The start is set up whatever other tests left: hello.yml deploys main
    keeping one release, which prunes the other releases and every
    wheelhouse but the one used last. That one is main's: the only other
    wheelhouse hello gets (the extra-packages test's) is used for main's
    own release, whose virtualenv is then built again from main's
    wheelhouse (by this run, or by an earlier one)."""
    start = deploy(run_playbook_on_fleet, flask_app_version="main", flask_app_keep_releases=1)
    assert start.rc == 0, start.output[-3000:]
    problems = {name: start_problems(host, commit) for name, host in fleet.items()}
    assert not any(problems.values()), (
        f"after hello.yml deployed main keeping one release: {problems}\n{start.output[-3000:]}")
    steps = {"before": Step(start, {name: after(host) for name, host in fleet.items()})}
    for step, variables in (("v1", {"flask_app_version": "v1"}),
                            ("v2", {"flask_app_version": "v2", "flask_app_keep_releases": 2}),
                            ("v2 again", {"flask_app_version": "v2", "flask_app_keep_releases": 2})):
        run = deploy(run_playbook_on_fleet, **variables)
        steps[step] = Step(run, {name: after(host) for name, host in fleet.items()})
    return steps


def test_code_only_deploy_of_v1_switches_and_keeps_the_previous_release(fleet, commit, first_deploys):
    run, hosts = first_deploys["v1"]
    assert run.rc == 0, run.output[-3000:]
    for name in fleet:
        assert hosts[name]["live"] == f"{ROOT}/releases/{commit('v1')}"
        previous = first_deploys["before"].hosts[name]["live"]
        assert previous.rsplit("/", 1)[1] in hosts[name]["releases"]
        # The requirements did not change: a new virtualenv, filled from the
        # wheelhouse the first deploy built, without building or downloading.
        assert f"changed: [{name}]" in task_outcome(run.output, "Create the release's virtualenv")
        assert f"skipping: [{name}]" in task_outcome(run.output, "Download and build every dependency as a wheel")
        assert f"changed: [{name}]" in task_outcome(
            run.output, "Install the release's dependencies from the wheelhouse")
        assert len(hosts[name]["wheelhouses"]) == 1


def test_deploy_v2_prunes_the_release_longest_out_of_service(fleet, commit, first_deploys):
    run, hosts = first_deploys["v2"]
    assert run.rc == 0, run.output[-3000:]
    for name in fleet:
        assert hosts[name]["live"] == f"{ROOT}/releases/{commit('v2')}"
        assert hosts[name]["releases"] == {commit("v2"), commit("v1")}


def test_deploys_are_recorded_in_order_with_their_versions(fleet, commit, first_deploys):
    for name, host in fleet.items():
        before = [(e["release"], e["version"]) for e in first_deploys["before"].hosts[name]["history"]]
        history = [(e["release"], e["version"]) for e in first_deploys["v2"].hosts[name]["history"]]
        # The converge's deploy first, then each deploy of a release not live.
        assert history[0] == (commit("main"), "main")
        assert history == before + [(commit("v1"), "v1"), (commit("v2"), "v2")]
        assert host.file(f"{ROOT}/history.json").user == "root"


def test_redeploying_v2_changes_nothing(fleet, commit, first_deploys):
    run, hosts = first_deploys["v2 again"]
    assert run.rc == 0, run.output[-3000:]
    assert set(run.changed.values()) == {0}, run.output[-3000:]
    for name in fleet:
        assert hosts[name]["live"] == f"{ROOT}/releases/{commit('v2')}"


def known_hosts_as_hello_yml_writes_them(host):
    key = host.check_output("cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2]
    return host.file("/etc/flaskops/hello/known_hosts").content_string == f"127.0.0.1 {' '.join(key)}\n"


@pytest.fixture
def v2_live(make_live):
    """v2 live, deployed as hello.yml does."""
    make_live(HELLO, "v2", flask_app_keep_releases=2)


@pytest.fixture
def v2_as_deployed(fleet, run_playbook_on_fleet, v2_live):
    """v2 live, and git's access to the repository as hello.yml writes it
    (no https credentials, the git server's own key): a run of hello.yml
    that stops before the release changes nothing."""
    if not all(known_hosts_as_hello_yml_writes_them(host)
               and not host.file("/etc/flaskops/hello/git-credentials").exists for host in fleet.values()):
        run = deploy(run_playbook_on_fleet, flask_app_version="v2", flask_app_keep_releases=2)
        assert run.rc == 0, run.output[-3000:]


@pytest.fixture
def v2_live_without_v3(fleet, commit, run_playbook_on_fleet):
    """v2 live and v3 not built (or pruned): a deploy of v3 builds it."""
    def ready(host):
        return live(host) == f"{ROOT}/releases/{commit('v2')}" and commit("v3") not in releases(host)

    if not all(ready(host) for host in fleet.values()):
        run = deploy(run_playbook_on_fleet, flask_app_version="v2", flask_app_keep_releases=1)
        assert run.rc == 0, run.output[-3000:]
        for name, host in fleet.items():
            assert ready(host), (name, live(host), sorted(releases(host)), run.output[-3000:])


@pytest.fixture
def v3_live(make_live):
    """v3 live, deployed as hello.yml does."""
    make_live(HELLO, "v3", flask_app_keep_releases=2)


@pytest.mark.usefixtures("v2_as_deployed")
def test_a_missing_version_fails_and_leaves_release_and_settings_alone(
        fleet, commit, run_playbook_on_fleet):
    env_before = {name: host.file(f"{ROOT}/shared/hello.env").content_string for name, host in fleet.items()}
    run = deploy(run_playbook_on_fleet, flask_app_version="no-such-branch", flask_app_keep_releases=2,
                 flask_app_env={"HELLO_TRUSTED_HOPS": "2"})
    assert run.rc != 0
    assert 'flask_app_version "no-such-branch" is not a branch or tag' in run.output
    assert set(run.changed.values()) == {0}, run.output[-3000:]
    for name, host in fleet.items():
        assert live(host) == f"{ROOT}/releases/{commit('v2')}"
        assert host.file(f"{ROOT}/shared/hello.env").content_string == env_before[name]


@pytest.mark.usefixtures("v2_live")
def test_a_release_that_does_not_import_never_goes_live(fleet, commit, run_playbook_on_fleet):
    run = deploy(run_playbook_on_fleet, flask_app_version="broken-import", flask_app_keep_releases=2)
    assert run.rc != 0
    # Its error quotes SECRET_KEY: shown masked.
    assert "this release is broken on purpose; SECRET_KEY=********" in run.output, run.output[-3000:]
    assert SECRET not in run.output
    assert f"current still points at {ROOT}/releases/{commit('v2')}" in run.output
    for host in fleet.values():
        assert live(host) == f"{ROOT}/releases/{commit('v2')}"
        assert commit("broken-import") not in releases(host)


@pytest.mark.usefixtures("v2_live_without_v3")
def test_a_failing_pre_switch_command_stops_the_deploy(fleet, commit, run_playbook_on_fleet):
    env_before = {name: host.file(f"{ROOT}/shared/hello.env").content_string for name, host in fleet.items()}
    run = deploy(run_playbook_on_fleet, flask_app_version="v3", flask_app_keep_releases=2,
                 flask_app_env={"HELLO_TRUSTED_HOPS": "1", "NEW_SETTING": "with-v3"},
                 flask_app_pre_switch_commands=[
                     "python -c 'import os, sys; sys.exit(\"migration failed: no database \" + os.environ[\"SECRET_KEY\"])'"])
    assert run.rc != 0
    assert "migration failed: no database ********" in run.output, run.output[-3000:]
    assert SECRET not in run.output
    for name, host in fleet.items():
        assert live(host) == f"{ROOT}/releases/{commit('v2')}"
        assert commit("v3") not in releases(host)
        # The environment it would have gone live with never did.
        assert host.file(f"{ROOT}/shared/hello.env").content_string == env_before[name]
        assert not host.file(f"{ROOT}/shared/hello.env.staged").exists


@pytest.mark.usefixtures("v2_live_without_v3")
def test_pre_switch_commands_run_once_as_the_app_user_with_its_environment(
        fleet, commit, run_playbook_on_fleet):
    """They see the environment the release goes live with (staged), not the old one."""
    marker = f"{ROOT}/shared/instance/pre-switch"
    for host in fleet.values():
        host.run(f"rm -f {marker}")
    record = ("python -c \"import getpass, os, sys; open('instance/pre-switch', 'a').write("
              "' '.join([getpass.getuser(), os.getcwd(), sys.prefix, "
              "os.environ['HELLO_TRUSTED_HOPS'], str(len(os.environ['SECRET_KEY']))]) + '\\n')\"")
    variables = {"flask_app_version": "v3", "flask_app_keep_releases": 2,
                 "flask_app_env": {"HELLO_TRUSTED_HOPS": "2"},
                 "flask_app_pre_switch_commands": [record]}
    run = deploy(run_playbook_on_fleet, **variables)
    assert run.rc == 0, run.output[-3000:]
    assert SECRET not in run.output
    release = f"{ROOT}/releases/{commit('v3')}"
    for host in fleet.values():
        assert live(host) == release
        assert host.file(marker).content_string == f"hello {release} {release}/.venv 2 {len(SECRET)}\n"
        assert 'HELLO_TRUSTED_HOPS="2"' in host.file(f"{ROOT}/shared/hello.env").content_string
        assert not host.file(f"{ROOT}/shared/hello.env.staged").exists

    again = deploy(run_playbook_on_fleet, **variables)
    assert again.rc == 0 and set(again.changed.values()) == {0}, again.output[-3000:]
    for host in fleet.values():
        assert len(host.file(marker).content_string.splitlines()) == 1


@pytest.mark.usefixtures("v3_live")
def test_an_unknown_git_server_key_is_refused(fleet, commit, run_playbook_on_fleet):
    run = deploy(run_playbook_on_fleet, flask_app_version="v1", flask_app_git_known_hosts=[
        "127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNvdW50ZXJmZWl0IGtleSBmb3IgdGVzdHMhISE="])
    assert run.rc != 0
    assert "git cannot read flask_app_repo" in run.output
    for host in fleet.values():
        assert live(host) == f"{ROOT}/releases/{commit('v3')}"


@pytest.mark.usefixtures("v3_live")
def test_new_extra_packages_upgrade_the_live_venv_in_place(fleet, commit, run_playbook_on_fleet):
    release = f"{ROOT}/releases/{commit('v3')}"
    run = deploy(run_playbook_on_fleet, flask_app_version="v3", flask_app_keep_releases=2,
                 flask_app_extra_packages=["gunicorn==27.0.1", "six==1.17.0"])
    assert run.rc == 0, run.output[-3000:]
    for host in fleet.values():
        assert live(host) == release
        check = host.run(f"cd {release} && sudo -u hello .venv/bin/python -c "
                         "'import six, hello, gunicorn; print(hello.RELEASE)'")
        assert check.rc == 0, check.stderr
        assert check.stdout.strip() == "v3"


@pytest.mark.usefixtures("v3_live")
def test_a_user_or_group_of_something_else_is_refused(fleet, commit, run_playbook_on_fleet):
    accounts = {name: host.check_output("getent passwd www-data backup; getent group www-data backup")
                for name, host in fleet.items()}
    for variables, variable in (({"flask_app_user": "www-data"}, "flask_app_user"),
                                ({"flask_app_group": "backup"}, "flask_app_group")):
        run = deploy(run_playbook_on_fleet, flask_app_version="v3", flask_app_keep_releases=2, **variables)
        assert run.rc != 0
        assert f'{variable} "{next(iter(variables.values()))}" exists and is not' in run.output, run.output[-3000:]
        assert set(run.changed.values()) == {0}, run.output[-3000:]
    for name, host in fleet.items():
        assert host.check_output("getent passwd www-data backup; getent group www-data backup") == accounts[name]
        assert live(host) == f"{ROOT}/releases/{commit('v3')}"


def test_a_repository_that_tracks_the_instance_folder_deploys_with_the_shared_one(
        fleet, commit, run_playbook_on_fleet):
    release = f"{ROOT}/releases/{commit('tracked-instance')}"
    kept = f"{ROOT}/shared/instance/kept-across-releases"
    for host in fleet.values():
        host.run_expect([0], f"echo data > {kept}")
    run = deploy(run_playbook_on_fleet, flask_app_version="tracked-instance", flask_app_keep_releases=2)
    assert run.rc == 0, run.output[-3000:]
    for host in fleet.values():
        assert live(host) == release
        assert host.file(f"{release}/instance").is_symlink
        assert host.file(f"{release}/instance").linked_to == f"{ROOT}/shared/instance"
        assert host.file(kept).content_string == "data\n"
    again = deploy(run_playbook_on_fleet, flask_app_version="tracked-instance", flask_app_keep_releases=2)
    assert again.rc == 0 and set(again.changed.values()) == {0}, again.output[-3000:]


HTTP_REPO = "http://127.0.0.1:8418/hello.git"
TOKEN = "flaskops-test-token-8418"  # what prepare.yml's git server wants


def test_credentials_in_the_repository_url_are_kept_root_only_and_never_shown(
        fleet, commit, run_playbook_on_fleet):
    run = run_playbook_on_fleet(HELLO, "-v", "-e", json.dumps({
        "flask_app_version": "v3", "flask_app_keep_releases": 2,
        "flask_app_repo": f"http://deploy:{TOKEN}@127.0.0.1:8418/hello.git"}))
    assert run.rc == 0, run.output[-3000:]
    assert TOKEN not in run.output
    release = f"{ROOT}/releases/{commit('v3')}"
    for host in fleet.values():
        assert live(host) == release
        assert TOKEN not in host.file(f"{release}/.git/config").content_string
        assert f'url = {HTTP_REPO}' in host.file(f"{release}/.git/config").content_string
        git_dir = host.file(f"{release}/.git")
        assert (git_dir.user, git_dir.mode) == ("root", 0o700)
        credentials = host.file("/etc/flaskops/hello/git-credentials")
        assert (credentials.user, credentials.mode) == ("root", 0o600)
        assert TOKEN in credentials.content_string

    wrong = run_playbook_on_fleet(HELLO, "-e", json.dumps({
        "flask_app_version": "v3", "flask_app_repo": HTTP_REPO, "flask_app_repo_token": "wrong-token-value",
        "flask_app_repo_token_user": "deploy"}))
    assert wrong.rc != 0
    assert f'git cannot read flask_app_repo "{HTTP_REPO}"' in wrong.output, wrong.output[-3000:]
    assert "wrong-token-value" not in wrong.output


def test_a_password_with_a_raw_at_sign_in_the_url_works_and_is_never_shown(fleet, commit, run_playbook_on_fleet):
    """prepare.yml's second git server wants the password p@ss:w0rd@8419,
    written into the URL as it is: the host is what follows the last "@"."""
    password = "p@ss:w0rd@8419"
    run = run_playbook_on_fleet(HELLO, "-vvv", "-e", json.dumps({
        "flask_app_version": "v2", "flask_app_keep_releases": 2,
        "flask_app_repo": f"http://deploy:{password}@127.0.0.1:8419/hello.git"}))
    assert run.rc == 0, run.output[-3000:]
    for form in (password, "p%40ss", "w0rd@8419", "w0rd%408419", "p@ss"):
        assert form not in run.output, form
    for host in fleet.values():
        assert live(host) == f"{ROOT}/releases/{commit('v2')}"
        config = host.file(f"{ROOT}/releases/{commit('v2')}/.git/config").content_string
        assert "url = http://127.0.0.1:8419/hello.git" in config and "p@ss" not in config


def test_a_token_and_secrets_never_show_even_at_vvv_with_diff(fleet, commit, run_playbook_on_fleet):
    rotated = "rotated-molecule-secret-value"
    run = run_playbook_on_fleet(HELLO, "-vvv", "--diff", "-e", json.dumps({
        "flask_app_version": "v3", "flask_app_keep_releases": 2, "flask_app_repo": HTTP_REPO,
        "flask_app_repo_token": TOKEN, "flask_app_repo_token_user": "deploy",
        "flask_app_secret_env": {"SECRET_KEY": rotated}}))
    assert run.rc == 0, run.output[-3000:]
    for secret in (TOKEN, rotated, SECRET):
        assert secret not in run.output
    for host in fleet.values():
        assert f'SECRET_KEY="{rotated}"' in host.file(f"{ROOT}/shared/hello.env").content_string
        assert host.file("/etc/flaskops/hello/git-credentials").mode == 0o600


def test_a_package_whose_instance_folder_is_in_the_virtualenv_is_refused(fleet, run_playbook_on_fleet):
    """notes in a src/ layout: installed into the venv, where Flask then puts
    its instance folder; its database would be lost with the release."""
    notes = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "notes.yml"
    before = {name: live(host, "/srv/notes") for name, host in fleet.items()}
    run = run_playbook_on_fleet(notes, "-e", json.dumps({"flask_app_version": "src-layout"}))
    assert run.rc != 0
    assert "/.venv/var/notes-instance, not the shared /srv/notes/shared/instance" in run.output, run.output[-3000:]
    assert "FLASK_INSTANCE_PATH" in run.output
    for name, host in fleet.items():
        assert live(host, "/srv/notes") == before[name]


def test_a_disk_that_fills_up_during_a_deploy_leaves_the_live_release_serving(
        fleet, commit, run_playbook_on_fleet, record):
    """A copy of hello ("full") on a 64 MB file system of its own, filled up
    before v2's deploy: building v2 fails (its virtualenv cannot be
    written), v1 stays live and whole; with room again, the next run
    deploys v2."""
    full = {"flask_app_name": "full", "flask_app_root": "/srv/full", "flask_app_keep_releases": 2}
    for host in fleet.values():
        host.run_expect([0], "mkdir -p /srv/full && mount -t tmpfs -o size=64m,mode=0755 tmpfs /srv/full")
    first = deploy(run_playbook_on_fleet, flask_app_version="v1", **full)
    assert first.rc == 0, first.output[-3000:]
    for host in fleet.values():
        free = int(host.check_output("df --output=avail -B1 /srv/full | tail -n 1"))
        host.run_expect([0], f"fallocate -l {free - 256 * 1024} /srv/full/filler")

    failed = deploy(run_playbook_on_fleet, flask_app_version="v2", **full)

    assert failed.rc != 0
    assert f"Release {commit('v2')} (v2) did not go live" in failed.output, failed.output[-3000:]
    assert f"current still points at /srv/full/releases/{commit('v1')}" in failed.output
    for name, host in fleet.items():
        assert live(host, "/srv/full") == f"/srv/full/releases/{commit('v1')}"
        assert not host.file(f"/srv/full/releases/{commit('v2')}").exists
        check = host.run("cd /srv/full/current && sudo -u full .venv/bin/python -c 'import hello; print(hello.RELEASE)'")
        assert check.stdout.strip() == "v1", check.stderr
        record("disk full during a deploy: the live release stays whole and serving", name,
               failed_run_rc=failed.rc, live="v1")
        host.run_expect([0], "rm /srv/full/filler")

    again = deploy(run_playbook_on_fleet, flask_app_version="v2", **full)
    assert again.rc == 0, again.output[-3000:]
    for host in fleet.values():
        assert live(host, "/srv/full") == f"/srv/full/releases/{commit('v2')}"


def test_a_release_is_built_by_an_unprivileged_user_and_handed_to_root(fleet, commit, run_playbook_on_fleet):
    """notes at records-build-user: its setup.py writes the user that runs it.
    pip, the build backend and setup.py run as notes-build; root then owns
    every file of the release, none writable by group or others."""
    notes = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "notes.yml"
    run = run_playbook_on_fleet(notes, "-e", json.dumps({"flask_app_version": "records-build-user"}))
    assert run.rc == 0, run.output[-3000:]
    for host in fleet.values():
        release = "/srv/notes/releases/" + host.check_output(
            "git -C /srv/git/notes.git rev-parse records-build-user^{commit}")
        builder = host.user("notes-build")
        assert builder.uid != 0 and builder.shell == "/usr/sbin/nologin"
        assert host.file(f"{release}/built-by.txt").content_string.split()[0] == str(builder.uid)
        leftovers = host.check_output(f"find {release} -xdev ! -type l \\( ! -user root -o -perm /022 \\) -print")
        assert leftovers == "", leftovers
        wheels = host.file("/var/cache/flaskops/notes/wheels")
        assert (wheels.user, wheels.mode) == ("notes-build", 0o700)


def test_a_uv_lock_pins_what_is_installed_over_newer_releases_on_the_index(fleet, run_playbook_on_fleet):
    """notes at uv-locked asks for six>=1.16 (the index has 1.17.0) and its
    uv.lock locks 1.16.0: every server installs 1.16.0, through the
    wheelhouse, as pip constraints."""
    notes = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "notes.yml"
    run = run_playbook_on_fleet(notes, "-e", json.dumps({"flask_app_version": "uv-locked"}))
    assert run.rc == 0, run.output[-3000:]
    for host in fleet.values():
        release = "/srv/notes/releases/" + host.check_output("git -C /srv/git/notes.git rev-parse uv-locked^{commit}")
        assert live(host, "/srv/notes") == release
        six = host.check_output(f"{release}/.venv/bin/python -c 'import six; print(six.__version__)'")
        assert six == "1.16.0"
        assert "six==1.16.0" in host.file(f"{release}/.flaskops-constraints.txt").content_string.split()
    again = run_playbook_on_fleet(notes, "-e", json.dumps({"flask_app_version": "uv-locked"}))
    assert again.rc == 0 and set(again.changed.values()) == {0}, again.output[-3000:]


def test_a_release_that_asks_for_another_python_is_refused(fleet, run_playbook_on_fleet):
    """notes at needs-python-99: requires-python >=99 is refused, naming the
    interpreter and its version; the live release stays."""
    notes = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "notes.yml"
    before = {name: live(host, "/srv/notes") for name, host in fleet.items()}
    run = run_playbook_on_fleet(notes, "-e", json.dumps({"flask_app_version": "needs-python-99"}))
    assert run.rc != 0
    assert "pyproject.toml asks for Python >=99 (requires-python); /usr/bin/python3 is 3." in run.output, \
        run.output[-3000:]
    for name, host in fleet.items():
        assert live(host, "/srv/notes") == before[name]
