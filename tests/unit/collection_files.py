"""The checkout's files as Python modules, for the tests that call their
functions directly (modules, plugins and scripts that are not packages),
and its playbooks run in check mode against this machine."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load(name, relative):
    """The file ROOT/RELATIVE, imported as the module NAME."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_playbook(tmp_path, playbook, groups, given):
    """Run playbooks/PLAYBOOK in check mode against this machine, as the one
    host of each group of GROUPS (a map of group to that host's variables),
    with GIVEN as extra variables; return (rc, stdout and stderr)."""
    inventory = tmp_path / "hosts.yml"
    hosts = {group: {"hosts": {"localhost": dict(variables)}} for group, variables in groups.items()}
    first = next(iter(hosts.values()))["hosts"]["localhost"]
    first.update(ansible_connection="local", ansible_python_interpreter=sys.executable)
    inventory.write_text(json.dumps({"all": {"children": hosts}}))
    extra = tmp_path / "vars.json"
    extra.write_text(json.dumps(given))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default")
    result = subprocess.run(
        ["ansible-playbook", "--check", "-i", str(inventory), "-e", f"@{extra}", str(ROOT / "playbooks" / playbook)],
        capture_output=True, text=True, env=env, timeout=120, cwd=ROOT, check=False)
    return result.returncode, result.stdout + result.stderr
