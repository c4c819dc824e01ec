"""The flask_app role's helper (roles/flask_app/files/flask_app_helper.py), on the controller.

It runs on the hosts with ``python3 -c``; here each of its modes runs the
same way, against folders laid out like a host's /srv/<name>.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "roles" / "flask_app" / "files" / "flask_app_helper.py"
SPEC = importlib.util.spec_from_file_location("flask_app_helper", HELPER)
helper = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(helper)

V1, V2, V3, V4 = ("1" * 40, "2" * 40, "3" * 40, "4" * 40)


def run(*args, cwd=None):
    """The helper as the role runs it: python3 -c CODE ARGS."""
    return subprocess.run([sys.executable, "-c", HELPER.read_text(), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=60)


def layout(root, kept, live=None, history=(), mtimes=None):
    (root / "releases").mkdir(parents=True)
    for number, sha in enumerate(kept):
        (root / "releases" / sha).mkdir()
        stamp = (mtimes or {}).get(sha, 1_000_000 + number)
        os.utime(root / "releases" / sha, (stamp, stamp))
    if live:
        (root / "current").symlink_to(root / "releases" / live)
    if history:
        entries = [{"release": sha, "version": version} for sha, version in history]
        (root / "history.json").write_text(json.dumps(entries))
    return root


def describe(root, keep=3, rollback_to=""):
    result = run("releases", str(root), str(keep), *([rollback_to] if rollback_to else []))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_rollback_goes_to_the_release_deployed_before_the_latest(tmp_path):
    root = layout(tmp_path, [V1, V2], live=V2, history=[(V1, "v1"), (V2, "v2")])
    assert describe(root)["rollback_target"] == V1


def test_a_second_rollback_stays_where_the_first_went(tmp_path):
    # After rolling back, current is v1 and the history still ends with v2.
    root = layout(tmp_path, [V1, V2], live=V1, history=[(V1, "v1"), (V2, "v2")])
    assert describe(root)["rollback_target"] == V1


def test_rollback_follows_the_history_not_the_folder_times(tmp_path):
    # v1 was built last (newest folder) but v3 went live before v2.
    root = layout(tmp_path, [V1, V2, V3], live=V2,
                  history=[(V1, "v1"), (V3, "v3"), (V2, "v2")],
                  mtimes={V1: 3_000_000, V2: 1_000_000, V3: 2_000_000})
    assert describe(root)["rollback_target"] == V3


@pytest.mark.parametrize("name", ["v2", V2, V2[:7]])
def test_rollback_to_a_named_release(tmp_path, name):
    root = layout(tmp_path, [V1, V2], live=V1, history=[(V1, "v1"), (V2, "v2")])
    assert describe(root, rollback_to=name)["rollback_target"] == V2


def test_a_branch_name_means_the_latest_release_deployed_from_it(tmp_path):
    root = layout(tmp_path, [V1, V2, V3], live=V3,
                  history=[(V1, "main"), (V2, "main"), (V3, "v3")])
    assert describe(root, rollback_to="main")["rollback_target"] == V2


@pytest.mark.parametrize(("kept", "live", "history", "name", "error"), [
    ([V1], V1, [(V1, "v1")], "", "only one release"),
    ([V1], V1, [], "", "no deploy is recorded"),
    ([V2], V2, [(V1, "v1"), (V2, "v2")], "", "no longer kept"),
    ([V1, V2], V2, [(V1, "v1"), (V2, "v2")], "v9", "no release kept on this host was deployed as 'v9'"),
])
def test_nothing_to_roll_back_to_says_why(tmp_path, kept, live, history, name, error):
    root = layout(tmp_path, kept, live=live, history=history)
    described = describe(root, rollback_to=name)
    assert described["rollback_target"] == ""
    assert error in described["rollback_error"]


def test_pruning_keeps_the_live_release_and_those_most_recently_live(tmp_path):
    root = layout(tmp_path, [V1, V2, V3, V4], live=V2,
                  history=[(V4, "v4"), (V1, "v1"), (V3, "v3"), (V2, "v2")])
    assert describe(root, keep=2)["prune"] == sorted([V1, V4])
    assert describe(root, keep=1)["prune"] == sorted([V1, V3, V4])


def test_pruning_never_removes_the_live_release_even_when_unrecorded(tmp_path):
    root = layout(tmp_path, [V1, V2, V3], live=V3, history=[(V1, "v1"), (V2, "v2")])
    assert describe(root, keep=1)["prune"] == sorted([V1, V2])


def test_env_file_values_are_read_as_written(tmp_path):
    env = tmp_path / "app.env"
    env.write_text('# managed\nPLAIN="a b"\nQUOTED="say \\"hi\\" \\\\ back"\nEMPTY=""\n')
    assert helper.read_env_file(env) == {"PLAIN": "a b", "QUOTED": 'say "hi" \\ back', "EMPTY": ""}


def test_check_loads_a_factory_with_the_environment(tmp_path):
    (tmp_path / "app.py").write_text(
        "import os\n"
        "def create_app(name='x'):\n"
        "    assert os.environ['TOKEN'] == 'secret value'\n"
        "    return lambda environ, start_response: [name.encode()]\n")
    env = tmp_path / "app.env"
    env.write_text('TOKEN="secret value"\n')
    result = run("check", str(env), "app:create_app('demo')", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "app:create_app('demo') loads: function"
    assert "secret value" not in result.stdout + result.stderr


def test_check_fails_with_the_traceback_of_an_app_that_does_not_import(tmp_path):
    (tmp_path / "app.py").write_text("raise RuntimeError('broken on purpose')\n")
    (tmp_path / "app.env").write_text("")
    result = run("check", str(tmp_path / "app.env"), "app:app", cwd=tmp_path)
    assert result.returncode != 0
    assert "broken on purpose" in result.stderr


def instance_app(tmp_path, instance_path):
    """An app object with Flask's instance_path attribute, and a shared folder."""
    shared = tmp_path / "shared" / "instance"
    shared.mkdir(parents=True)
    (tmp_path / "instance").symlink_to(shared)
    (tmp_path / "app.py").write_text(
        "class App:\n"
        f"    instance_path = {str(instance_path).replace('TMP', str(tmp_path))!r}\n"
        "    def __call__(self, environ, start_response):\n"
        "        return []\n"
        "app = App()\n")
    (tmp_path / "app.env").write_text("")
    return shared


def test_check_accepts_an_instance_folder_that_is_the_shared_one(tmp_path):
    shared = instance_app(tmp_path, "TMP/instance")
    result = run("check", str(tmp_path / "app.env"), "app:app", str(shared), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_check_refuses_an_instance_folder_inside_the_virtualenv(tmp_path):
    """A src-layout package installed into the venv: Flask's instance folder
    is <venv>/var/<name>-instance, inside the release."""
    shared = instance_app(tmp_path, "TMP/.venv/var/app-instance")
    result = run("check", str(tmp_path / "app.env"), "app:app", str(shared), cwd=tmp_path)
    assert result.returncode != 0
    assert f"instance folder is {tmp_path}/.venv/var/app-instance, not the shared {shared}" in result.stderr
    assert "FLASK_INSTANCE_PATH" in result.stderr


def test_run_puts_the_virtualenv_first_in_path(tmp_path):
    (tmp_path / "app.env").write_text('GREETING="hello there"\n')
    result = run("run", str(tmp_path / "app.env"),
                 "sh -c 'echo \"$GREETING\" \"$VIRTUAL_ENV\"; command -v python3'", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == f"hello there {sys.prefix}"
    assert second == os.path.join(sys.prefix, "bin", "python3")


def test_build_requires_reads_pyproject_or_falls_back(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[build-system]\nrequires = ["hatchling>=1", "wheel"]\n')
    assert run("build-requires", str(tmp_path / "pyproject.toml")).stdout.split() == ["hatchling>=1", "wheel"]
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert run("build-requires", str(tmp_path / "pyproject.toml")).stdout.split() == ["setuptools>=40.8.0"]


def test_unknown_mode_prints_usage():
    result = run("nonsense")
    assert result.returncode == 2
    assert "releases ROOT KEEP" in result.stderr


def test_history_file_that_is_not_json_counts_as_none(tmp_path):
    root = layout(tmp_path, [V1], live=V1)
    (root / "history.json").write_text("{not json")
    assert describe(root)["history"] == []
