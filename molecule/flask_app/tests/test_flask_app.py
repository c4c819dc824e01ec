"""Behaviour of the flask_app role on a converged host."""

import json
import os
from pathlib import Path

import pytest

ROOT = "/srv/hello"
CONVERGE = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"


@pytest.fixture(scope="module")
def main_commit(host):
    return host.check_output("git -C /srv/git/hello.git rev-parse main")


def test_app_user_has_no_login_shell(host):
    user = host.user("hello")
    assert user.exists
    assert user.shell in ("/usr/sbin/nologin", "/bin/false")
    assert user.group == "hello"
    assert "sudo" not in user.groups


def test_current_points_at_the_release_of_the_deployed_commit(host, main_commit):
    current = host.file(f"{ROOT}/current")
    assert current.is_symlink
    assert current.linked_to == f"{ROOT}/releases/{main_commit}"


def test_release_is_a_checkout_of_that_commit(host, main_commit):
    head = host.check_output(
        f"git -c safe.directory='*' -C {ROOT}/current rev-parse HEAD"
    )
    assert head == main_commit


def test_release_venv_has_the_requirements_and_gunicorn(host):
    pip_list = host.check_output(f"{ROOT}/current/.venv/bin/pip list --format=freeze")
    packages = {line.split("==")[0].lower() for line in pip_list.splitlines()}
    assert {"flask", "werkzeug", "gunicorn"} <= packages


def test_code_and_venv_are_not_writable_by_the_app_user(host):
    for path in (f"{ROOT}/current/hello.py", f"{ROOT}/current", f"{ROOT}/current/.venv/bin"):
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


def test_app_imports_in_the_release_as_the_app_user(host):
    result = host.run(
        f"cd {ROOT}/current && sudo -u hello .venv/bin/python -c "
        "'import hello; print(hello.app.name)'"
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "hello"


def test_a_missing_version_fails_and_leaves_release_and_settings_alone(host, run_playbook):
    env_file = f"{ROOT}/shared/hello.env"
    current_before = host.file(f"{ROOT}/current").linked_to
    env_before = host.file(env_file).content_string

    run = run_playbook(CONVERGE, "-e", json.dumps({
        "flask_app_version": "no-such-branch",
        "flask_app_env": {"HELLO_TRUSTED_HOPS": "2"},
    }))

    assert run.rc != 0
    assert 'flask_app_version "no-such-branch" is not a branch or tag' in run.output
    assert run.changed == 0, run.output[-3000:]
    assert host.file(f"{ROOT}/current").linked_to == current_before
    assert host.file(env_file).content_string == env_before
