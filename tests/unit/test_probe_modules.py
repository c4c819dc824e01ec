"""The modules that read what a deploy needs of the host: the releases of
an application folder (app_releases), what gunicorn runs with
(service_state), unit files the role did not write (foreign_units) and a
project's build requirements (python_project).

Each is also run the way Ansible runs it, in check mode: it answers and
changes nothing.
"""

import hashlib
import json
import os
import subprocess
import sys

import pytest
from collection_files import ROOT, load

V1, V2, V3, V4 = ("1" * 40, "2" * 40, "3" * 40, "4" * 40)


app_releases = load("app_releases", "plugins/modules/app_releases.py")
service_state = load("service_state", "plugins/modules/service_state.py")
foreign_units = load("foreign_units", "plugins/modules/foreign_units.py")
python_project = load("python_project", "plugins/modules/python_project.py")


def run_module(name, tmp_path, **args):
    """(rc, answer) of the module run as a program, as Ansible does, in check mode."""
    args_file = tmp_path / f"{name}.args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=True)}))
    result = subprocess.run([sys.executable, str(ROOT / "plugins" / "modules" / f"{name}.py"), str(args_file)],
                            capture_output=True, text=True, timeout=60, check=False)
    return result.returncode, json.loads(result.stdout)


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
    return app_releases.describe_releases(str(root), keep, rollback_to)


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


def test_history_file_that_is_not_json_counts_as_none(tmp_path):
    root = layout(tmp_path, [V1], live=V1)
    (root / "history.json").write_text("{not json")
    assert describe(root)["history"] == []


def test_wheelhouses_beyond_the_most_recently_used_are_listed(tmp_path):
    wheels = tmp_path / "wheels"
    for age, name in enumerate(["newest", "middle", "oldest", "half-built.tmp"]):
        (wheels / name).mkdir(parents=True)
        stamp = 2_000_000 - age * 1000
        os.utime(wheels / name, (stamp, stamp))
    (wheels / "not-a-wheelhouse").write_text("")
    (wheels / ".hidden").mkdir()
    root = layout(tmp_path / "hello", [V1], live=V1)
    found = app_releases.describe_releases(str(root), 2, wheels=str(wheels))["prune_wheelhouses"]
    assert found == sorted([str(wheels / "oldest"), str(wheels / "half-built.tmp")])
    assert app_releases.describe_releases(str(root), 5, wheels=str(wheels))["prune_wheelhouses"] == []
    assert app_releases.describe_releases(str(root), 1, wheels=str(tmp_path / "none"))["prune_wheelhouses"] == []
    # Without a folder of wheelhouses, nothing is listed.
    assert describe(root, keep=1)["prune_wheelhouses"] == []


def test_app_releases_runs_in_check_mode_and_changes_nothing(tmp_path):
    root = layout(tmp_path / "hello", [V1, V2], live=V2, history=[(V1, "v1"), (V2, "v2")])
    before = sorted(str(p) for p in root.rglob("*"))
    rc, answer = run_module("app_releases", tmp_path, root=str(root), keep=1)
    assert rc == 0, answer
    assert (answer["changed"], answer["live"], answer["prune"]) == (False, V2, [V1])
    assert answer["rollback_target"] == V1
    assert sorted(str(p) for p in root.rglob("*")) == before


@pytest.fixture
def host(tmp_path):
    """An application folder, its environment file and the service's record."""
    (tmp_path / "releases" / "a").mkdir(parents=True)
    (tmp_path / "current").symlink_to("releases/a")
    (tmp_path / "app.env").write_text("A=1\n")
    (tmp_path / "started").write_text(json.dumps({"release": "old"}))
    return tmp_path


def shown(active, enabled):
    return lambda unit: f"ActiveState={active}\nUnitFileState={enabled}\n"


def test_the_state_of_a_service_in_one_answer(host):
    state = service_state.host_state(
        link=str(host / "current"), release=str(host / "releases" / "b"),
        files={"environment": str(host / "app.env"), "staged": "", "config": str(host / "none.conf.py")},
        record=str(host / "started"), units=["app.service"], user="root", group="no-such-group-here",
        show=shown("active", "enabled"))
    assert state["live"] == str(host / "releases" / "a"), "the link, made absolute"
    assert state["release"] == str(host / "releases" / "b")
    assert state["release_is_dir"] is False
    assert state["sha256"]["environment"] == hashlib.sha256(b"A=1\n").hexdigest()
    assert state["sha256"]["staged"] == "" and state["sha256"]["config"] == ""
    assert state["now"] == {"release": str(host / "releases" / "a"),
                            "environment_sha256": state["sha256"]["environment"],
                            "config_sha256": "", "unit_sha256": "", "helper_sha256": ""}
    assert state["record"] == {"release": "old"}
    assert state["units"] == {"app.service": {"active": "active", "enabled": "enabled"}}
    assert (state["user"], state["group"]) == (True, False)


def test_without_a_release_asked_for_the_live_one_is_run(host):
    state = service_state.host_state(str(host / "current"), "", {}, str(host / "started"), [],
                                     "root", "root", shown("", ""))
    assert state["release"] == str(host / "releases" / "a") and state["release_is_dir"] is True


@pytest.mark.parametrize("record", ["{not json", "[1, 2]", None])
def test_a_missing_or_unreadable_record_counts_as_none(host, record):
    if record is None:
        (host / "started").unlink()
    else:
        (host / "started").write_text(record)
    state = service_state.host_state(str(host / "current"), "", {}, str(host / "started"), [],
                                     "root", "root", shown("", ""))
    assert state["record"] == {}


def test_service_state_runs_in_check_mode(host, tmp_path):
    rc, answer = run_module("service_state", tmp_path, link=str(host / "current"),
                            files={"environment": str(host / "app.env")}, record=str(host / "started"),
                            user="root", group="root")
    assert rc == 0, answer
    assert answer["changed"] is False and answer["release_is_dir"] is True
    assert answer["now"]["environment_sha256"] == hashlib.sha256(b"A=1\n").hexdigest()


MARKER = "# flaskops.stack.gunicorn: "


def test_units_the_role_did_not_write_are_found(tmp_path):
    etc, vendor = tmp_path / "etc", tmp_path / "lib"
    etc.mkdir()
    vendor.mkdir()
    (vendor / "ssh.service").write_text("[Unit]\nDescription=OpenBSD Secure Shell server\n")
    (etc / "cron.service").write_text("[Unit]\nDescription=an administrator's own unit\n")
    (etc / "mask.service").symlink_to("/dev/null")
    (etc / "hello.service").write_text(f"{MARKER}hello\n[Unit]\n")
    (etc / "hello.socket").write_text(f"{MARKER}hello\n[Unit]\n")
    folders = (str(etc), str(vendor))
    names = ["ssh.service", "cron.service", "mask.service", "hello.service", "hello.socket", "new.service"]
    assert foreign_units.foreign_units(names, MARKER, folders) == [
        str(vendor / "ssh.service"), str(etc / "cron.service"), str(etc / "mask.service")]
    # Our own unit over a distribution's (written before the check existed)
    # is still refused: the distribution's unit is what it replaces.
    (vendor / "hello.service").write_text("[Unit]\n")
    assert foreign_units.foreign_units(["hello.service"], MARKER, folders) == [str(vendor / "hello.service")]


def test_foreign_units_runs_in_check_mode_and_refuses_an_empty_marker(tmp_path):
    rc, answer = run_module("foreign_units", tmp_path, units=["flaskops-no-such-unit.service"], marker=MARKER)
    assert (rc, answer["changed"], answer["found"]) == (0, False, [])
    rc, answer = run_module("foreign_units", tmp_path, units=["ssh.service"], marker=" ")
    assert rc != 0 and "marker must not be empty" in answer["msg"]


def test_build_requirements_are_read_from_pyproject_or_default(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[build-system]\nrequires = ["hatchling>=1", "wheel"]\n')
    assert python_project.build_requires(str(pyproject)) == ["hatchling>=1", "wheel"]
    pyproject.write_text('[project]\nname = "x"\n')
    assert python_project.build_requires(str(pyproject)) == ["setuptools>=40.8.0"]


@pytest.mark.parametrize(("content", "message"), [
    ("[build-system\n", "cannot be read"),
    ('[build-system]\nrequires = "setuptools"\n', "must be a list of strings"),
])
def test_a_pyproject_that_cannot_be_read_fails_with_its_path(tmp_path, content, message):
    pyproject = tmp_path / "pyproject.toml"
    if content is not None:
        pyproject.write_text(content)
    rc, answer = run_module("python_project", tmp_path, path=str(pyproject))
    assert rc != 0
    assert str(pyproject) in answer["msg"] and message in answer["msg"]


def test_a_missing_pyproject_gives_the_default_build_requirements(tmp_path):
    rc, answer = run_module("python_project", tmp_path, path=str(tmp_path / "pyproject.toml"))
    assert (rc, answer["build_requires"], answer["pins"]) == (0, ["setuptools>=40.8.0"], [])


UV_LOCK = """version = 1
requires-python = ">=3.11"

[[package]]
name = "notes"
version = "1.0.0"
source = { editable = "." }

[[package]]
name = "Six"
version = "1.16.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "flask"
version = "3.1.3"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "tool"
version = "0.1.0"
source = { git = "https://example.invalid/tool.git?rev=v1#0123" }
"""

POETRY_LOCK = """[[package]]
name = "six"
version = "1.16.0"
optional = false

[[package]]
name = "tool"
version = "0.1.0"
optional = false

[package.source]
type = "git"
url = "https://example.invalid/tool.git"

[metadata]
lock-version = "2.0"
"""


@pytest.mark.parametrize(("name", "content", "pins"), [
    ("uv.lock", UV_LOCK, ["flask==3.1.3", "Six==1.16.0"]),
    ("poetry.lock", POETRY_LOCK, ["six==1.16.0"]),
])
def test_a_lock_file_gives_a_pin_for_each_package_from_an_index(tmp_path, name, content, pins):
    (tmp_path / name).write_text(content)
    assert python_project.lock_pins(str(tmp_path / name)) == pins
    rc, answer = run_module("python_project", tmp_path, path=str(tmp_path / "pyproject.toml"),
                            lock=str(tmp_path / name))
    assert (rc, answer["pins"]) == (0, pins)


def test_a_package_locked_at_two_versions_is_left_to_pip(tmp_path):
    """uv locks a package once per platform or Python when they differ:
    no single constraint fits, so the other packages are pinned and it is not."""
    (tmp_path / "uv.lock").write_text(UV_LOCK + """
[[package]]
name = "numpy"
version = "2.0.2"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "NumPy"
version = "2.2.6"
source = { registry = "https://pypi.org/simple" }
""")
    assert python_project.lock_pins(str(tmp_path / "uv.lock")) == ["flask==3.1.3", "Six==1.16.0"]


def test_a_lock_file_that_cannot_be_read_fails_with_its_path(tmp_path):
    (tmp_path / "uv.lock").write_text("[[package]]\nname = 'six'\n")
    rc, answer = run_module("python_project", tmp_path, path=str(tmp_path / "pyproject.toml"),
                            lock=str(tmp_path / "uv.lock"))
    assert rc != 0 and "uv.lock cannot be read" in answer["msg"] and "no name or version" in answer["msg"]


RUNNING = ".".join(str(part) for part in sys.version_info[:3])


@pytest.mark.parametrize(("requires", "pinned", "problem"), [
    (">=3.8", None, ""),
    (">=99", None, "pyproject.toml asks for Python >=99 (requires-python)"),
    ("bad spec", None, "is not a version specifier"),
    (None, ".".join(RUNNING.split(".")[:2]), ""),
    (None, "2.7", ".python-version asks for 2.7"),
    (None, f"cpython-{RUNNING}", ""),
    (None, f"cpython-{RUNNING}-linux-x86_64-gnu", ""),
    (None, ".".join(RUNNING.split(".")[:2]) + "t", ""),
    (None, ".".join(RUNNING.split(".")[:2]) + ".99", ""),
    (None, "python" + ".".join(RUNNING.split(".")[:2]), ""),
    (None, "system", ""),
    (None, "pypy3.10", ""),
    (None, "3.2", ".python-version asks for 3.2"),
])
def test_the_interpreter_is_checked_against_requires_python_and_python_version(tmp_path, requires, pinned, problem):
    if requires:
        (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\nrequires-python = "{requires}"\n')
    if pinned:
        (tmp_path / ".python-version").write_text(f"{pinned}\n")
    rc, answer = run_module("python_project", tmp_path, path=str(tmp_path / "pyproject.toml"),
                            python=sys.executable, version_file=str(tmp_path / ".python-version"))
    assert rc == 0 and answer["python_version"] == RUNNING
    assert (problem in answer["python_problem"]) if problem else answer["python_problem"] == ""


def test_python_project_runs_in_check_mode(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[build-system]\nrequires = ["flit_core>=3.4"]\n')
    rc, answer = run_module("python_project", tmp_path, path=str(tmp_path / "pyproject.toml"))
    assert (rc, answer["changed"], answer["build_requires"]) == (0, False, ["flit_core>=3.4"])


app_processes = load("app_processes", "plugins/modules/app_processes.py")
MARKER = "# flaskops.stack process of hello"


def test_app_processes_finds_only_the_units_the_collection_wrote(tmp_path):
    (tmp_path / "hello-jobs@.service").write_text(f"# managed\n{MARKER}\n[Service]\n")
    (tmp_path / "hello-mail@.service").write_text(f"{MARKER}\n")
    (tmp_path / "hello-hand@.service").write_text("[Service]\nExecStart=/bin/true\n")
    (tmp_path / "hello.service").write_text(f"{MARKER}\n")
    (tmp_path / "other-jobs@.service").write_text(f"{MARKER}\n")
    found = app_processes.find_units(str(tmp_path), "hello-", MARKER)
    assert sorted(found) == ["jobs", "mail"]
    assert found["jobs"]["path"] == str(tmp_path / "hello-jobs@.service")


@pytest.mark.parametrize("name, process, index", [
    ("jobs@1.service", "jobs", "1"), ("mail_out@12.service", "mail_out", "12"),
    ("jobs@.service", None, None), ("jobs@x.service", None, None), ("Jobs@1.service", None, None),
    ("jobs@1.service\n", None, None),
])
def test_app_processes_reads_instance_names_in_full(name, process, index):
    match = app_processes.INSTANCE.fullmatch(name)
    assert (match.group("process"), match.group("index")) == (process, index) if process else match is None


def test_app_processes_runs_in_check_mode_and_finds_nothing_on_a_new_host(tmp_path):
    rc, answer = run_module("app_processes", tmp_path, link=str(tmp_path / "current"), prefix="hello-",
                            marker=MARKER, units_dir=str(tmp_path / "units"))
    assert rc == 0, answer
    assert answer["changed"] is False
    assert answer["release"] == "" and answer["units"] == {} and answer["instances"] == {}
    assert answer["settled"] is True


def test_app_processes_reads_the_release_an_instance_noted(tmp_path):
    (tmp_path / "hello-jobs-2").mkdir()
    (tmp_path / "hello-jobs-2" / "release").write_text("/srv/hello/releases/abc\n")
    assert app_processes.running_release(str(tmp_path), "hello-jobs@2.service") == "/srv/hello/releases/abc"
    assert app_processes.running_release(str(tmp_path), "hello-jobs@1.service") == ""
