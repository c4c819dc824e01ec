"""Every ansible-core meta/runtime.yml claims, on a fresh host, and check mode
on a host that has nothing yet.

The oldest core (.testbed/ansible-oldest, from requirements-oldest.txt)
runs the playbooks of this checkout from this machine. The newest
(requirements-newest.txt) runs them as a user of the collection does, from
a Debian 13 controller container on the scenario's network that holds
nothing of the checkout: the tarball ``ansible-galaxy collection build``
makes of the checkout here is installed there with ``ansible-galaxy
collection install``, an empty project gets a copy of the installed
collection's inventories/production with only the server, the repository
and the vault file filled in (CONSUMER_SETUP), and the playbooks run by
their full names (``ansible-playbook -i inventory flaskops.stack.site``).
Each core converges its own fresh host, runs it again (no change), then
deploys v2 and rolls back under a request loop through nginx.
"""

import json
import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import recap_changed

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
INVENTORY = Path(os.environ["MOLECULE_INVENTORY_FILE"])
OLDEST, NEWEST, FRESH = "flaskops-cores-oldest", "flaskops-cores-newest", "flaskops-cores-fresh"
NETWORK, CONTROLLER = "flaskops-cores", "flaskops-cores-controller"
ENV = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", COLUMNS="500")


def production_server():
    """The one server of inventories/production's hosts.yml."""
    hosts = yaml.safe_load((PROJECT / "inventories" / "production" / "hosts.yml").read_text())
    names = {name for group in hosts["all"]["children"].values() for name in group["hosts"]}
    assert len(names) == 1, f"inventories/production lists {sorted(names)}: the test expects one server"
    return names.pop()


PRODUCTION_SERVER = production_server()
# The sites the hosts answer for: molecule.yml's on the oldest host, the
# production inventory's own domain on the newest.
DOMAINS = {
    OLDEST: "hello.test",
    NEWEST: yaml.safe_load((PROJECT / "inventories" / "production" / "group_vars" / "all" / "main.yml")
                           .read_text())["nginx_proxy_server_name"],
}
# The secret the consumer project keeps in its vault file, new each run.
VAULT_SECRET = "consumer-" + secrets.token_hex(16)

# In the controller: ansible-core's virtualenv first on the PATH, as an
# activated one is, and the project as the working folder. No ansible.cfg
# and no ANSIBLE_* setting but plain output: a user's defaults.
CONTROLLER_PATH = "/opt/ansible/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROJECT_DIR = "/root/project"
VAULT_PASSWORD_FILE = "/root/.vault-pass"

# What a user does with the collection (README, "Deploy to a real server"),
# in the controller: install the built tarball, copy the installed
# collection's production inventory into an empty project and fill it in,
# and trust the server's SSH host key. What differs from
# inventories/production, and why; everything else is production's as it
# ships (the application's name, version, WSGI target and environment, the
# domain, which the tests send as the Host header, plain HTTP: its ACME
# lines stay commented out; the deploy user; no ansible.cfg):
# - hosts.yml: the server's name, the test host's on the scenario's network,
#   in place of the example one;
# - host_vars/<server>.yml: the repository to deploy, the example application
#   the scenario's prepare published on the host (production's is a
#   placeholder on GitHub);
# - group_vars/all/vault.yml: the vault file production's secret refers to
#   (vault_flask_secret_key), encrypted with ansible-vault, its password
#   outside the project.
CONSUMER_SETUP = r"""
set -eu
umask 077
ansible-galaxy collection install "/root/dist/$TARBALL"
mkdir "$PROJECT_DIR"
cd "$PROJECT_DIR"
cp -R ~/.ansible/collections/ansible_collections/flaskops/stack/inventories/production inventory
sed -i "s/^\( *\)$PRODUCTION_SERVER_RE:/\1$SERVER:/" inventory/hosts.yml
grep -q "^ *$SERVER:" inventory/hosts.yml
mkdir inventory/host_vars
printf '%s\n' --- "flask_app_repo: $REPO" > "inventory/host_vars/$SERVER.yml"
printf '%s\n' --- "vault_flask_secret_key: $SECRET" > inventory/group_vars/all/vault.yml
printf '%s\n' "$VAULT_PASSWORD" > "$VAULT_PASSWORD_FILE"
ansible-vault encrypt --vault-password-file "$VAULT_PASSWORD_FILE" inventory/group_vars/all/vault.yml
ssh-keyscan "$SERVER" > ~/.ssh/known_hosts
test -s ~/.ssh/known_hosts
"""


def run_ok(argv, **options):
    """Run ARGV; its output. Fails the test with the output when it fails."""
    result = subprocess.run(argv, capture_output=True, text=True, **options, check=False)
    assert result.returncode == 0, f"{' '.join(argv[:6])}...: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout


def oldest_playbook(playbook, *args):
    """(rc, output, core version) of a playbook of this checkout run with the
    oldest core, on the oldest host."""
    binary = PROJECT / ".testbed" / "ansible-oldest" / "bin" / "ansible-playbook"
    result = subprocess.run([str(binary), "-i", str(INVENTORY), "--limit", OLDEST,
                             str(PROJECT / "playbooks" / f"{playbook}.yml"), *args],
                            capture_output=True, text=True, timeout=1200, env=ENV, check=False)
    version = subprocess.check_output([str(binary), "--version"], text=True).splitlines()[0]
    return result.returncode, result.stdout + result.stderr, version


def in_controller(workdir=PROJECT_DIR, env=None):
    """podman exec into the controller, as its user at a shell there."""
    variables = {"PATH": CONTROLLER_PATH, "ANSIBLE_NOCOLOR": "1", **(env or {})}
    return ["podman", "exec", "--workdir", workdir,
            *(option for name, value in variables.items() for option in ("--env", f"{name}={value}")), CONTROLLER]


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    """The newest core's controller container, set up as a user's machine:
    the collection built from this checkout and installed there, and a
    project of its own with the production inventory filled in
    (CONSUMER_SETUP). Nothing else of the checkout is in it."""
    image = run_ok([str(PROJECT / "testbed" / "build-controller.sh")]).strip().splitlines()[-1]
    dist = tmp_path_factory.mktemp("dist")
    run_ok(["ansible-galaxy", "collection", "build", "--output-path", str(dist), str(PROJECT)], cwd=dist, env=ENV)
    tarball, = dist.glob("flaskops-stack-*.tar.gz")
    key = PROJECT / ".testbed" / "ssh" / "id_ed25519"
    run_ok(["podman", "rm", "--force", "--ignore", CONTROLLER])
    # The user's SSH key where ssh looks for it, and the tarball beside the project.
    run_ok(["podman", "run", "--detach", "--name", CONTROLLER, "--network", NETWORK,
            "--volume", f"{key}:/root/.ssh/id_ed25519:ro", "--volume", f"{dist}:/root/dist:ro", image])
    setup = run_ok([*in_controller("/root", {
        "TARBALL": tarball.name, "PROJECT_DIR": PROJECT_DIR, "SERVER": NEWEST,
        "PRODUCTION_SERVER_RE": PRODUCTION_SERVER.replace(".", r"\."), "REPO": "/srv/git/hello.git",
        "SECRET": VAULT_SECRET, "VAULT_PASSWORD": secrets.token_hex(16), "VAULT_PASSWORD_FILE": VAULT_PASSWORD_FILE,
    }), "sh", "-c", CONSUMER_SETUP])
    print(setup)
    yield
    subprocess.run(["podman", "rm", "--force", "--time", "5", CONTROLLER], check=False, capture_output=True)


def newest_playbook(playbook, *args):
    """(rc, output, core version) of a playbook of the installed collection,
    by its full name, run with the newest core in the controller's project."""
    result = subprocess.run([*in_controller(), "ansible-playbook", "-i", "inventory",
                             "--vault-password-file", VAULT_PASSWORD_FILE, f"flaskops.stack.{playbook}", *args],
                            capture_output=True, text=True, timeout=1200, check=False)
    version = subprocess.check_output([*in_controller(), "ansible-playbook", "--version"], text=True).splitlines()[0]
    return result.returncode, result.stdout + result.stderr, version


def served_release(host, domain):
    body = host.check_output(f"curl --silent --fail --max-time 5 --header 'Host: {domain}' http://127.0.0.1/")
    return json.loads(body)["release"]


def master_environment(host):
    """The environment of the application's gunicorn master."""
    pid = host.check_output("systemctl show --property MainPID --value hello.service")
    return host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ").splitlines()


CORES = {OLDEST: ("2.16.", oldest_playbook), NEWEST: ("2.21.", newest_playbook)}


@pytest.fixture(scope="module")
def converged(request):
    """Each core's first and second converge of its fresh host, once."""
    runs = {}

    def converge(name):
        if name not in runs:
            if name == NEWEST:
                request.getfixturevalue("controller")
            run_playbook = CORES[name][1]
            runs[name] = (run_playbook("site"), run_playbook("site"))
        return runs[name]
    return converge


@pytest.mark.parametrize("name", [OLDEST, NEWEST])
def test_each_claimed_core_converges_a_fresh_host_then_changes_nothing(converged, fleet, name):
    (rc, output, version), (again_rc, again, _ignored) = converged(name)
    prefix = CORES[name][0]
    print(f"{name}: {version}")
    assert re.search(rf"\[core {re.escape(prefix)}", version), version
    assert rc == 0, output[-3000:]
    assert again_rc == 0, again[-3000:]
    assert recap_changed(again, name) == 0, again[-3000:]
    # The first run's lock was released when it ended: the second did not
    # wait for its lease to run out and take it over.
    assert "took over the lock" not in again, again[-3000:]
    assert served_release(fleet[name], DOMAINS[name]) == "v3"


def test_the_production_inventorys_vaulted_secret_reaches_the_app_and_is_never_printed(converged, fleet):
    (rc, output, _ignored), (_ignored, again, _ignored) = converged(NEWEST)
    assert rc == 0, output[-3000:]
    assert f"SECRET_KEY={VAULT_SECRET}" in master_environment(fleet[NEWEST])
    assert VAULT_SECRET not in output + again


@pytest.mark.parametrize("name", [OLDEST, NEWEST])
def test_each_claimed_core_deploys_and_rolls_back_under_load(converged, fleet, request_loop, record, name):
    assert converged(name)[0][0] == 0
    run_playbook = CORES[name][1]
    host = fleet[name]
    stop = request_loop(host, DOMAINS[name])
    deploy_rc, deploy_out, _ignored = run_playbook("deploy", "-e", "flask_app_version=v2")
    served_after_deploy = served_release(host, DOMAINS[name])
    rollback_rc, rollback_out, version = run_playbook("rollback")
    report = stop()
    record(f"ansible-core {version.split('[core ')[1].rstrip(']')}: deploy of v2 and rollback on a fresh "
           "host, requests through nginx", name, sent=report["sent"], failed=report["failed"])
    assert deploy_rc == 0, deploy_out[-3000:]
    assert served_after_deploy == "v2"
    assert rollback_rc == 0, rollback_out[-3000:]
    assert served_release(host, DOMAINS[name]) == "v3"
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
