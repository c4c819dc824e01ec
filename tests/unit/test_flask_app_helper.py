"""The flask_app role's helper (roles/flask_app/files/flask_app_helper.py), on the controller.

It runs on the hosts with ``python3 -c``; here each of its modes runs the
same way, against folders laid out like a host's /srv/<name>.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELPER = ROOT / "roles" / "flask_app" / "files" / "flask_app_helper.py"
SPEC = importlib.util.spec_from_file_location("flask_app_helper", HELPER)
helper = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(helper)


def run(*args, cwd=None):
    """The helper as the role runs it: python3 -c CODE ARGS."""
    return subprocess.run([sys.executable, "-c", HELPER.read_text(), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


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


def test_unknown_mode_prints_usage():
    result = run("nonsense")
    assert result.returncode == 2
    assert "check ENV_FILE TARGET" in result.stderr
