"""A run's lock is renewed while the run lives and released when it ends,
with Ansible's defaults (no pipelining: each module is copied into a
temporary folder on the host first) as with pipelining.

A playbook run on this machine (connection local) takes a lock with a
4-second lease and holds it for 6 seconds. It runs in a mount namespace of
its own whose /var/lib is a folder of the test, so the lock lands there
and nothing of this machine's /var/lib is read or changed.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = textwrap.dedent("""\
    - name: Hold a lock past its lease
      hosts: localhost
      gather_facts: false
      tasks:
        - name: Take it
          flaskops.stack.run_lock:
            name: keeper
            state: acquired
            wait: 5
            lease: 4
        - name: Outlast the lease
          ansible.builtin.command: sleep 6
          changed_when: false
        - name: Keep the lock as it is now
          ansible.builtin.command: cp /var/lib/flaskops/locks/keeper.json /var/lib/during.json
          changed_when: false
    """)


@pytest.mark.parametrize("pipelining", ["false", "true"], ids=["defaults", "pipelining"])
def test_the_keeper_renews_the_lock_and_releases_it_when_the_run_ends(tmp_path, pipelining):
    if shutil.which("ansible-playbook") is None:
        pytest.skip("ansible-playbook is not installed")
    if os.geteuid() != 0 or subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("needs root and a mount namespace (unshare --mount)")
    var_lib = tmp_path / "var-lib"
    var_lib.mkdir()
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    # This checkout as flaskops.stack, and no ansible.cfg: Ansible's defaults
    # but the one under test.
    namespace = tmp_path / "collections" / "ansible_collections" / "flaskops"
    namespace.mkdir(parents=True)
    (namespace / "stack").symlink_to(ROOT)
    env = {k: v for k, v in os.environ.items() if k != "ANSIBLE_CONFIG"}
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
               ANSIBLE_PIPELINING=pipelining)
    result = subprocess.run(
        ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /var/lib && exec "$@"', str(var_lib),
         "ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
         "play.yml"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    during = json.loads((var_lib / "during.json").read_text())
    read_at = (var_lib / "during.json").stat().st_mtime
    assert during["renewed"] > during["since"], f"never renewed: {during}"
    assert during["expires"] > read_at, f"stale while its run lived: {during}, read at {read_at}"
    lock = var_lib / "flaskops" / "locks" / "keeper.json"
    deadline = time.monotonic() + 15
    while lock.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not lock.exists(), f"still held after the run ended: {lock.read_text()}"
