"""Every ansible-core meta/runtime.yml claims, on a fresh host, and check mode
on a host that has nothing yet.

The oldest core (.testbed/ansible-oldest, from requirements-oldest.txt)
runs from this machine; the newest (requirements-newest.txt) from a Debian
13 controller container on the scenario's network, as a user on a current
distribution runs it. Each converges site.yml on its own fresh host, runs
it again (no change), then deploys v2 and rolls back under a request loop
through nginx.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import recap_changed

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
INVENTORY = Path(os.environ["MOLECULE_INVENTORY_FILE"])
OLDEST, NEWEST, FRESH = "flaskops-cores-oldest", "flaskops-cores-newest", "flaskops-cores-fresh"
NETWORK, CONTROLLER = "flaskops-cores", "flaskops-cores-controller"
COLLECTION = "/root/.ansible/collections/ansible_collections/flaskops/stack"
DOMAIN = "hello.test"
ENV = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", COLUMNS="500")


def oldest_playbook(playbook, *args):
    """(rc, output, core version) of a playbook run with the oldest core, on the oldest host."""
    binary = PROJECT / ".testbed" / "ansible-oldest" / "bin" / "ansible-playbook"
    result = subprocess.run([str(binary), "-i", str(INVENTORY), "--limit", OLDEST,
                             str(PROJECT / "playbooks" / playbook), *args],
                            capture_output=True, text=True, timeout=1200, env=ENV)
    version = subprocess.check_output([str(binary), "--version"], text=True).splitlines()[0]
    return result.returncode, result.stdout + result.stderr, version


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    """The newest core's controller container, with an inventory that reaches
    the newest host by its name on the scenario's network."""
    image = subprocess.run([str(PROJECT / "testbed" / "build-controller.sh")], check=True,
                           capture_output=True, text=True).stdout.strip().splitlines()[-1]
    work = tmp_path_factory.mktemp("controller")
    inventory = yaml.safe_load(INVENTORY.read_text())

    def keep_newest(group):
        hosts = group.get("hosts") or {}
        if NEWEST in hosts:
            group["hosts"] = {NEWEST: {
                "ansible_host": NEWEST, "ansible_port": 22, "ansible_user": "deploy",
                "ansible_private_key_file": "/root/key", "ansible_become": True,
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"}}
        else:
            group.pop("hosts", None)
        for child in (group.get("children") or {}).values():
            keep_newest(child)

    for group in inventory.values():
        keep_newest(group)
    (work / "inventory.yml").write_text(yaml.safe_dump(inventory))
    # Molecule writes the scenario's group_vars beside its inventory.
    for folder in ("group_vars", "host_vars"):
        if (INVENTORY.parent / folder).is_dir():
            shutil.copytree(INVENTORY.parent / folder, work / folder, symlinks=False)
    key = PROJECT / ".testbed" / "ssh" / "id_ed25519"
    subprocess.run(["podman", "rm", "--force", "--ignore", CONTROLLER], check=True, capture_output=True)
    subprocess.run(["podman", "run", "--detach", "--name", CONTROLLER, "--network", NETWORK,
                    "--volume", f"{PROJECT}:{COLLECTION}:ro", "--volume", f"{key}:/root/key:ro",
                    "--volume", f"{work}:/work", image], check=True, capture_output=True)
    yield
    subprocess.run(["podman", "rm", "--force", "--time", "5", CONTROLLER], check=False, capture_output=True)


def newest_playbook(playbook, *args):
    """(rc, output, core version) of a playbook run with the newest core, in the controller."""
    exec_ = ["podman", "exec", "--env", "ANSIBLE_NOCOLOR=1", "--env", "ANSIBLE_PIPELINING=true", CONTROLLER]
    result = subprocess.run([*exec_, "/opt/ansible/bin/ansible-playbook", "-i", "/work/inventory.yml",
                             f"{COLLECTION}/playbooks/{playbook}", *args],
                            capture_output=True, text=True, timeout=1200)
    version = subprocess.check_output([*exec_, "/opt/ansible/bin/ansible-playbook", "--version"],
                                      text=True).splitlines()[0]
    return result.returncode, result.stdout + result.stderr, version


def served_release(host):
    body = host.check_output(f"curl --silent --fail --max-time 5 --header 'Host: {DOMAIN}' http://127.0.0.1/")
    return json.loads(body)["release"]


CORES = {OLDEST: ("2.16.", oldest_playbook), NEWEST: ("2.21.", newest_playbook)}


@pytest.fixture(scope="module")
def converged(request):
    """Each core's first and second converge of its fresh host, once."""
    runs = {}

    def converge(name):
        if name not in runs:
            if name == NEWEST:
                request.getfixturevalue("controller")
            run = CORES[name][1]
            runs[name] = (run("site.yml"), run("site.yml"))
        return runs[name]
    return converge


@pytest.mark.parametrize("name", [OLDEST, NEWEST])
def test_each_claimed_core_converges_a_fresh_host_then_changes_nothing(converged, fleet, name):
    (rc, output, version), (again_rc, again, _) = converged(name)
    prefix = CORES[name][0]
    print(f"{name}: {version}")
    assert re.search(rf"\[core {re.escape(prefix)}", version), version
    assert rc == 0, output[-3000:]
    assert again_rc == 0, again[-3000:]
    assert recap_changed(again, name) == 0, again[-3000:]
    assert served_release(fleet[name]) == "v3"


@pytest.mark.parametrize("name", [OLDEST, NEWEST])
def test_each_claimed_core_deploys_and_rolls_back_under_load(converged, fleet, request_loop, record, name):
    assert converged(name)[0][0] == 0
    run = CORES[name][1]
    host = fleet[name]
    stop = request_loop(host, DOMAIN)
    deploy_rc, deploy_out, _ = run("deploy.yml", "-e", "flask_app_version=v2")
    served_after_deploy = served_release(host)
    rollback_rc, rollback_out, version = run("rollback.yml")
    report = stop()
    record(f"ansible-core {version.split('[core ')[1].rstrip(']')}: deploy of v2 and rollback on a fresh "
           "host, requests through nginx", name, sent=report["sent"], failed=report["failed"])
    assert deploy_rc == 0, deploy_out[-3000:]
    assert served_after_deploy == "v2"
    assert rollback_rc == 0, rollback_out[-3000:]
    assert served_release(host) == "v3"
    assert report["failed"] == 0, report["errors"]


# What a run would change on a fresh host: files of the system and the
# collection's folders, packages, package lists, accounts, units.
SNAPSHOT = (
    "find /etc /srv /usr/local /opt /var/www /var/lib/flaskops /var/cache/flaskops /var/lib/gunicorn "
    "/var/lib/apt/lists -xdev -printf '%m %u %g %s %p %l\\n' 2>/dev/null | sort | sha256sum; "
    "dpkg-query --show; getent passwd; getent group; systemctl list-unit-files --no-legend --no-pager; "
    "sysctl net.core.somaxconn; nft list ruleset 2>/dev/null || true"
)


def test_check_mode_on_a_fresh_host_changes_nothing_and_says_what_a_run_would_do(fleet, run_playbook_on_fleet):
    host = fleet[FRESH]
    before = host.check_output(SNAPSHOT)
    run = run_playbook_on_fleet(PROJECT / "playbooks" / "site.yml", "--check", "--diff", "--limit", FRESH)
    assert run.rc == 0, run.output[-3000:]
    assert run.changed[FRESH] > 0, "it says what it would change"
    assert "A real run downloads the package lists and installs git" in run.output
    assert "A real run downloads the package lists and installs nginx" in run.output
    assert "A real run checks out main of /srv/git/hello.git" in run.output
    # And shows the files it would write, line by line (a file that does not
    # exist yet is diffed against nothing).
    assert re.search(r"^\+\s*server_name\s[^\n]*hello\.test", run.output, re.M), \
        "and shows the files: " + "\n".join(line for line in run.output.splitlines() if "nginx" in line)[-3000:]
    assert host.check_output(SNAPSHOT) == before


def test_a_system_the_collection_does_not_support_is_refused_naming_it(fleet, run_playbook_on_fleet):
    host = fleet[FRESH]
    host.run_expect([0], "cp -a /etc/os-release /root/os-release.saved && rm -f /etc/os-release && "
                         "printf 'NAME=\"Alpine Linux\"\\nID=alpine\\nVERSION_ID=3.20.3\\n' > /etc/os-release && "
                         "echo 3.20.3 > /etc/alpine-release")
    try:
        before = host.check_output(SNAPSHOT)
        run = run_playbook_on_fleet(PROJECT / "playbooks" / "site.yml", "--limit", FRESH)
        assert run.rc != 0
        assert f"{FRESH} runs Alpine 3.20.3 (Alpine family" in run.output, run.output[-3000:]
        assert "supports Debian and its derivatives with systemd only" in run.output
        assert run.changed[FRESH] == 0
        assert host.check_output(SNAPSHOT) == before
    finally:
        host.run("rm -f /etc/alpine-release /etc/os-release && mv /root/os-release.saved /etc/os-release")
