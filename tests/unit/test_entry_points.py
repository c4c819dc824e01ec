"""The entry points' argument specs accept what the playbooks pass them.

Ansible checks the variables against an entry point's spec before the
entry point's first task, so a spec that is wrong for one caller (a type,
an option marked required) stops every run of that caller. Each play of
playbooks/ that includes a role with tasks_from is rebuilt here with the
same vars and vars_files, the vars of the import that brings it in, and an
inventory's variables, then run against this machine with a tag no task of
the roles carries: only the checks run (Ansible tags them "always"), and
nothing on the host is read or changed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INCLUDES = {f"{prefix}{kind}_role" for prefix in ("", "ansible.builtin.") for kind in ("include", "import")}
IMPORTS = {"import_playbook", "ansible.builtin.import_playbook"}


TASK_FILES = {f"{prefix}{kind}_tasks" for prefix in ("", "ansible.builtin.") for kind in ("include", "import")}


def inclusions(tasks, base, step=None):
    """The tasks (blocks and task files of BASE looked into) that include a
    role with tasks_from. A task file named by __flaskops_step (tasks/app_step.yml
    runs one for each application) is the one its caller names."""
    for task in tasks or []:
        for key in ("block", "rescue", "always"):
            yield from inclusions(task.get(key), base, step)
        for key in TASK_FILES & set(task):
            inner = (task.get("vars") or {}).get("__flaskops_step", step)
            name = inner if task[key] == "{{ __flaskops_step }}" else task[key]
            if name == inner and task.get("vars", {}).get("flask_app_name"):
                continue  # the same step for an entry of flaskops_apps: checked once
            path = base / name
            yield from inclusions(yaml.safe_load(path.read_text()), path.parent, inner)
        for key in INCLUDES & set(task):
            if isinstance(task[key], dict) and "tasks_from" in task[key]:
                yield task[key], task.get("vars") or {}


def caller_plays(path, inherited=None):
    """Each play of PATH that includes a role with tasks_from, rebuilt to run
    only the entry points' checks; imported playbooks followed with their vars."""
    for play in yaml.safe_load(path.read_text()):
        imported = IMPORTS & set(play)
        if imported:
            yield from caller_plays(path.parent / play[imported.pop()], {**(inherited or {}), **(play.get("vars") or {})})
            continue
        tasks = [{"name": f"Check the variables of {role['name']} tasks_from {role['tasks_from']}",
                  "ansible.builtin.include_role": {"name": role["name"], "tasks_from": role["tasks_from"]},
                  "vars": task_vars, "tags": ["always"]}
                 for role, task_vars in inclusions(play.get("tasks"), path.parent)]
        if not tasks:
            continue
        yield {"name": f"{path.name}: {play['name']}", "hosts": "localhost", "gather_facts": False,
               "vars": {**(inherited or {}), **(play.get("vars") or {})},
               "vars_files": [str(path.parent / name) for name in play.get("vars_files") or []],
               "tasks": tasks}


# What flask_app publishes for the runner before gunicorn's steps run
# (roles/flask_app/tasks/publish.yml), as a deploy of the example app does.
PUBLISHED = {
    "flask_app_current_path": "/srv/hello/current",
    "flask_app_release_path": "/srv/hello/releases/0123456789abcdef0123456789abcdef01234567",
    "flask_app_static_path": "/srv/hello/releases/0123456789abcdef0123456789abcdef01234567/static",
    "flask_app_venv_path": "/srv/hello/current/.venv",
    "flask_app_env_file": "/srv/hello/shared/env",
    "flask_app_env_file_staged": "",
    "flask_app_shared_path": "/srv/hello/shared",
    "flask_app_service_user": "hello",
    "flask_app_service_group": "hello",
    "flask_app_commit": "0123456789abcdef0123456789abcdef01234567",
    "flask_app_release_changed": True,
}


def test_published_facts_are_those_flask_app_publishes():
    publish = yaml.safe_load((ROOT / "roles" / "flask_app" / "tasks" / "publish.yml").read_text())
    assert set(publish[0]["ansible.builtin.set_fact"]) == set(PUBLISHED)


# A vault's variables, as the inventories expect them.
VAULT = {"vault_flask_secret_key": "a-long-random-string-for-the-test"}
# What the playbooks' usage lines pass with -e: strings.
EXTRA = "flask_app_version=v1.4.2 flask_app_rollback_to=1234567 flaskops_pre_switch_once=false"


@pytest.mark.parametrize("inventory", ["production", "staging"])
@pytest.mark.parametrize("extra", [None, EXTRA], ids=["inventory", "extra-vars"])
def test_entry_point_specs_accept_what_the_playbooks_pass(tmp_path, inventory, extra):
    if shutil.which("ansible-playbook") is None:
        pytest.skip("ansible-playbook is not installed")
    plays = [play for name in ("site.yml", "deploy.yml", "rollback.yml")
             for play in caller_plays(ROOT / "playbooks" / name)]
    entries = {task["ansible.builtin.include_role"]["tasks_from"] for play in plays for task in play["tasks"]}
    assert {"version", "finish", "rollback", "gate", "switch", "revert"} <= entries, entries
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    group_vars = yaml.safe_load((ROOT / "inventories" / inventory / "group_vars" / "all" / "main.yml").read_text())
    hosts = {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}
    (tmp_path / "hosts.yml").write_text(json.dumps({"all": {
        "vars": {**group_vars, **VAULT, **PUBLISHED},
        "children": {"app": {"hosts": hosts}, "web": {"hosts": hosts}}}}))
    argv = ["ansible-playbook", "--check", "--tags", "flaskops-checks-only", "-i", str(tmp_path / "hosts.yml"),
            str(playbook)] + (["-e", extra] if extra else [])
    # This checkout as flaskops.stack, and nothing else.
    namespace = tmp_path / "collections" / "ansible_collections" / "flaskops"
    namespace.mkdir(parents=True)
    (namespace / "stack").symlink_to(ROOT)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"))
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180, cwd=ROOT, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    checked = set(re.findall(r"arg spec '([a-z_]+)'", output))
    assert checked == entries, f"checked {sorted(checked)}, expected {sorted(entries)}:\n{output}"
