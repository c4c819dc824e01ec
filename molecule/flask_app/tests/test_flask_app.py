"""Behaviour of the flask_app role on a converged host.

The converge deployed two applications: hello (requirements file, module-level
app, over ssh with a deploy key, main = v3) and notes (pyproject.toml,
application factory, a database made by a pre-switch command). The tests at
the end deploy hello again through its versions, in file order: v1, v2, a bad
ref, a release that does not import, a failing pre-switch command.
"""

import json
import os
from pathlib import Path

import pytest

ROOT = "/srv/hello"
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
HELLO = SCENARIO / "hello.yml"


@pytest.fixture(scope="module")
def commit(host):
    def rev_parse(ref):
        return host.check_output(f"git -C /srv/git/hello.git rev-parse {ref}^{{commit}}")
    return rev_parse


def live(host, root=ROOT):
    return host.file(f"{root}/current").linked_to


def releases(host, root=ROOT):
    return set(host.check_output(f"ls {root}/releases").split())


def deploy(run_playbook, **variables):
    return run_playbook(HELLO, "-e", json.dumps(variables))


def task_outcome(output, task):
    """The result lines Ansible printed under the task named ``task``."""
    _, found, rest = output.partition(f"TASK [flaskops.stack.flask_app : {task}]")
    assert found, f"task {task!r} is not in the output"
    return rest.split("TASK [", 1)[0]


def test_app_user_has_no_login_shell_and_no_sudo(host):
    user = host.user("hello")
    assert user.exists
    assert user.shell in ("/usr/sbin/nologin", "/bin/false")
    assert user.group == "hello"
    assert "sudo" not in user.groups
    assert host.run("sudo -l -U hello").stdout.find("may run") == -1


def test_current_points_at_the_release_of_the_deployed_commit(host, commit):
    assert host.file(f"{ROOT}/current").is_symlink
    assert live(host) == f"{ROOT}/releases/{commit('main')}"


def test_release_is_a_checkout_of_that_commit(host, commit):
    head = host.check_output(f"git -c safe.directory='*' -C {ROOT}/current rev-parse HEAD")
    assert head == commit("main")


def test_release_venv_has_the_requirements_and_gunicorn(host):
    pip_list = host.check_output(f"{ROOT}/current/.venv/bin/pip list --format=freeze")
    packages = {line.split("==")[0].lower() for line in pip_list.splitlines()}
    assert {"flask", "werkzeug", "gunicorn"} <= packages


def test_code_and_venv_are_not_writable_by_the_app_user(host):
    for path in (f"{ROOT}/current/hello.py", f"{ROOT}/current", f"{ROOT}/current/.venv/bin",
                 f"{ROOT}/current/.venv/lib", f"{ROOT}/releases", ROOT):
        result = host.run(f"sudo -u hello test -w {path}")
        assert result.rc != 0, f"{path} is writable by the app user"


def test_instance_folder_is_shared_and_writable_by_the_app_user(host):
    link = host.file(f"{ROOT}/current/instance")
    assert link.is_symlink
    assert link.linked_to == f"{ROOT}/shared/instance"
    assert host.run(f"sudo -u hello test -w {ROOT}/shared/instance").rc == 0


def test_env_file_is_readable_by_the_app_group_only(host):
    env_file = host.file(f"{ROOT}/shared/hello.env")
    assert env_file.user == "root"
    assert env_file.group == "hello"
    assert env_file.mode == 0o640
    assert 'SECRET_KEY="molecule-secret-key-value"' in env_file.content_string
    assert 'HELLO_TRUSTED_HOPS="1"' in env_file.content_string
    assert host.run(f"sudo -u nobody cat {ROOT}/shared/hello.env").rc != 0


def test_deploy_key_is_root_only(host):
    folder = host.file("/etc/flaskops/hello")
    key = host.file("/etc/flaskops/hello/deploy_key")
    assert (folder.user, folder.mode) == ("root", 0o700)
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)
    assert "PRIVATE KEY" in key.content_string


def test_hello_was_deployed_over_ssh(host):
    remote = host.check_output(
        f"git -c safe.directory='*' -C {ROOT}/current remote get-url origin")
    assert remote == "ssh://git@127.0.0.1/srv/git/hello.git"


def test_app_imports_in_the_release_as_the_app_user(host):
    result = host.run(
        f"cd {ROOT}/current && sudo -u hello .venv/bin/python -c "
        "'import hello; print(hello.app.name, hello.RELEASE)'"
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "hello v3"


def test_pyproject_project_is_installed_in_its_release_venv(host):
    show = host.run("/srv/notes/current/.venv/bin/pip show notes")
    assert show.rc == 0, show.stderr
    assert "Version: 1.0.0" in show.stdout
    assert not host.file("/srv/notes/current/requirements.txt").exists


def test_factory_app_serves_from_its_database_made_before_the_switch(host):
    database = host.file("/srv/notes/shared/instance/notes.sqlite")
    assert database.exists
    assert database.user == "notes"
    result = host.run(
        "cd /srv/notes/current && sudo -u notes env FLASK_SECRET_KEY=x .venv/bin/python -c "
        "'from notes import create_app; c = create_app().test_client(); "
        "print(c.get(\"/healthz\").status_code)'"
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "200"


def test_code_only_deploy_of_v1_switches_and_keeps_the_previous_release(
        host, commit, run_playbook):
    previous = live(host)
    run = deploy(run_playbook, flask_app_version="v1")
    assert run.rc == 0, run.output[-3000:]
    assert live(host) == f"{ROOT}/releases/{commit('v1')}"
    assert previous.rsplit("/", 1)[1] in releases(host)
    # The requirements did not change: a new virtualenv, filled from the
    # wheelhouse the first deploy built, without building or downloading.
    assert "changed:" in task_outcome(run.output, "Create the release's virtualenv")
    assert "skipping:" in task_outcome(run.output, "Download and build every dependency as a wheel")
    assert "changed:" in task_outcome(run.output, "Install the release's dependencies from the wheelhouse")
    assert len(host.check_output("ls /var/cache/flaskops/hello/wheels").split()) == 1


def test_deploy_v2_prunes_the_release_longest_out_of_service(host, commit, run_playbook):
    run = deploy(run_playbook, flask_app_version="v2", flask_app_keep_releases=2)
    assert run.rc == 0, run.output[-3000:]
    assert live(host) == f"{ROOT}/releases/{commit('v2')}"
    assert releases(host) == {commit("v2"), commit("v1")}


def test_deploys_are_recorded_in_order_with_their_versions(host, commit):
    history = json.loads(host.file(f"{ROOT}/history.json").content_string)
    assert [(e["release"], e["version"]) for e in history] == [
        (commit("main"), "main"), (commit("v1"), "v1"), (commit("v2"), "v2")]
    assert host.file(f"{ROOT}/history.json").user == "root"


def test_redeploying_v2_changes_nothing(host, commit, run_playbook):
    run = deploy(run_playbook, flask_app_version="v2", flask_app_keep_releases=2)
    assert run.rc == 0, run.output[-3000:]
    assert run.changed == 0, run.output[-3000:]
    assert live(host) == f"{ROOT}/releases/{commit('v2')}"


def test_a_missing_version_fails_and_leaves_release_and_settings_alone(
        host, commit, run_playbook):
    env_before = host.file(f"{ROOT}/shared/hello.env").content_string
    run = deploy(run_playbook, flask_app_version="no-such-branch", flask_app_keep_releases=2,
                 flask_app_env={"HELLO_TRUSTED_HOPS": "2"})
    assert run.rc != 0
    assert 'flask_app_version "no-such-branch" is not a branch or tag' in run.output
    assert run.changed == 0, run.output[-3000:]
    assert live(host) == f"{ROOT}/releases/{commit('v2')}"
    assert host.file(f"{ROOT}/shared/hello.env").content_string == env_before


def test_a_release_that_does_not_import_never_goes_live(host, commit, run_playbook):
    run = deploy(run_playbook, flask_app_version="broken-import", flask_app_keep_releases=2)
    assert run.rc != 0
    assert "this release is broken on purpose" in run.output
    assert f"current still points at {ROOT}/releases/{commit('v2')}" in run.output
    assert live(host) == f"{ROOT}/releases/{commit('v2')}"
    assert commit("broken-import") not in releases(host)


def test_a_failing_pre_switch_command_stops_the_deploy(host, commit, run_playbook):
    env_before = host.file(f"{ROOT}/shared/hello.env").content_string
    run = deploy(run_playbook, flask_app_version="v3", flask_app_keep_releases=2,
                 flask_app_env={"HELLO_TRUSTED_HOPS": "1", "NEW_SETTING": "with-v3"},
                 flask_app_pre_switch_commands=[
                     "python -c 'import sys; sys.exit(\"migration failed: no database\")'"])
    assert run.rc != 0
    assert "migration failed: no database" in run.output
    assert live(host) == f"{ROOT}/releases/{commit('v2')}"
    assert commit("v3") not in releases(host)
    # The environment it would have gone live with never did.
    assert host.file(f"{ROOT}/shared/hello.env").content_string == env_before
    assert not host.file(f"{ROOT}/shared/hello.env.staged").exists


def test_pre_switch_commands_run_once_as_the_app_user_with_its_environment(
        host, commit, run_playbook):
    """They see the environment the release goes live with (staged), not the old one."""
    marker = f"{ROOT}/shared/instance/pre-switch"
    host.run(f"rm -f {marker}")
    record = ("python -c \"import getpass, os, sys; open('instance/pre-switch', 'a').write("
              "' '.join([getpass.getuser(), os.getcwd(), sys.prefix, "
              "os.environ['HELLO_TRUSTED_HOPS'], str(len(os.environ['SECRET_KEY']))]) + '\\n')\"")
    variables = {"flask_app_version": "v3", "flask_app_keep_releases": 2,
                 "flask_app_env": {"HELLO_TRUSTED_HOPS": "2"},
                 "flask_app_pre_switch_commands": [record]}
    run = deploy(run_playbook, **variables)
    assert run.rc == 0, run.output[-3000:]
    release = f"{ROOT}/releases/{commit('v3')}"
    assert live(host) == release
    assert host.file(marker).content_string == (
        f"hello {release} {release}/.venv 2 {len('molecule-secret-key-value')}\n")
    assert 'HELLO_TRUSTED_HOPS="2"' in host.file(f"{ROOT}/shared/hello.env").content_string
    assert not host.file(f"{ROOT}/shared/hello.env.staged").exists
    assert "molecule-secret-key-value" not in run.output

    again = deploy(run_playbook, **variables)
    assert again.rc == 0 and again.changed == 0, again.output[-3000:]
    assert len(host.file(marker).content_string.splitlines()) == 1


def test_an_unknown_git_server_key_is_refused(host, commit, run_playbook):
    run = deploy(run_playbook, flask_app_version="v1", flask_app_git_known_hosts=[
        "127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNvdW50ZXJmZWl0IGtleSBmb3IgdGVzdHMhISE="])
    assert run.rc != 0
    assert "git cannot read flask_app_repo" in run.output
    assert live(host) == f"{ROOT}/releases/{commit('v3')}"


def test_new_extra_packages_upgrade_the_live_venv_in_place(host, commit, run_playbook):
    release = f"{ROOT}/releases/{commit('v3')}"
    assert live(host) == release
    run = deploy(run_playbook, flask_app_version="v3", flask_app_keep_releases=2,
                 flask_app_extra_packages=["gunicorn==27.0.1", "six==1.17.0"])
    assert run.rc == 0, run.output[-3000:]
    assert live(host) == release
    check = host.run(f"cd {release} && sudo -u hello .venv/bin/python -c "
                     "'import six, hello, gunicorn; print(hello.RELEASE)'")
    assert check.rc == 0, check.stderr
    assert check.stdout.strip() == "v3"
