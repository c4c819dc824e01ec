"""Behaviour of the flask_app role on a converged host.

The converge deployed two applications: hello (requirements file, module-level
app, over ssh with a deploy key, main = v3) and notes (pyproject.toml,
application factory, a database made by a pre-switch command). These tests
only look, at both as the converge left them: the fixture below puts them
back first when test_flask_app_deploys.py left others live.
"""

import os
from pathlib import Path

import pytest
from conftest import env_file, live

ROOT = "/srv/hello"
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
# What hello.yml deploys hello with.
HELLO_REPO = "ssh://git@127.0.0.1/srv/git/hello.git"
HELLO_ENV = {"HELLO_TRUSTED_HOPS": "1", "SECRET_KEY": "molecule-secret-key-value"}


@pytest.fixture(scope="module", autouse=True)
def as_converged(fleet, commit, run_playbook_on_fleet):
    """hello at main from its ssh repository with hello.yml's environment,
    and notes at v1, on every host: hello.yml and notes.yml run again for
    what differs."""
    def hello_as_converged(host):
        return (live(host) == f"{ROOT}/releases/{commit('main')}"
                and env_file(host, f"{ROOT}/shared/hello.env") == HELLO_ENV
                and host.check_output(f"git -c safe.directory='*' -C {ROOT}/current remote get-url origin")
                == HELLO_REPO)

    def notes_as_converged(host):
        release = host.check_output("git -C /srv/git/notes.git rev-parse v1^{commit}")
        return live(host, "/srv/notes") == f"/srv/notes/releases/{release}"

    for playbook, converged in (("hello.yml", hello_as_converged), ("notes.yml", notes_as_converged)):
        if not all(converged(host) for host in fleet.values()):
            run = run_playbook_on_fleet(SCENARIO / playbook)
            assert run.rc == 0, run.output[-3000:]
            assert all(converged(host) for host in fleet.values()), run.output[-3000:]


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
