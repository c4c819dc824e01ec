"""The modules that read a host (and the lock the runs share), on this machine."""

import json
import os
import socket
import subprocess
import sys

import pytest
from collection_files import load

accounts = load("accounts", "plugins/modules/accounts.py")
app_folder = load("app_folder", "plugins/modules/app_folder.py")
listening = load("listening", "plugins/modules/listening.py")
server_names = load("nginx_server_names", "plugins/modules/nginx_server_names.py")
run_lock = load("run_lock", "plugins/modules/run_lock.py")
host_limits = load("host_limits", "plugins/modules/host_limits.py")
htpasswd = load("htpasswd", "plugins/modules/htpasswd.py")


@pytest.fixture
def app_root(tmp_path):
    """/srv/hello as flask_app lays it out: marked, a live release, shared data."""
    root = tmp_path / "hello"
    release = root / "releases" / ("a" * 40)
    (release / "static").mkdir(parents=True)
    (release / ".git").mkdir()
    (root / "shared" / "instance").mkdir(parents=True)
    (root / ".flaskops-app").write_text("hello\n")
    (root / "current").symlink_to(release)
    (release / "instance").symlink_to(root / "shared" / "instance")
    return root


def test_a_marked_root_names_its_application_and_live_release(app_root):
    found = app_folder.describe(str(app_root), depth=0)
    assert (found["marker"], found["owner_app"]) == ("hello", "hello")
    assert found["live_release"] == str(app_root / "releases" / ("a" * 40))
    assert "releases" in found["entries"]


def test_links_are_followed_to_where_they_lead(app_root, tmp_path):
    static = app_folder.describe(str(app_root / "current" / "static"))
    assert static["realpath"] == str(app_root / "releases" / ("a" * 40) / "static")
    assert static["owner_root"] == str(app_root)
    shared = app_folder.describe(str(app_root / "current" / "instance"))
    assert shared["realpath"] == str(app_root / "shared" / "instance")
    (tmp_path / "sneaky").symlink_to(app_root)
    assert app_folder.describe(str(tmp_path / "sneaky"))["owner_root"] == str(app_root)


def test_roots_below_a_folder_are_found(app_root, tmp_path):
    found = app_folder.describe(str(tmp_path), depth=3)
    assert found["owner_root"] == ""
    assert found["roots_below"] == [str(app_root)]


def test_a_missing_folder_is_read_by_its_path(tmp_path):
    found = app_folder.describe(str(tmp_path / "nothing" / "here"))
    assert (found["exists"], found["is_dir"], found["marker"], found["owner_root"]) == (False, False, None, "")


def test_listeners_are_read_with_the_program_that_holds_them():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        found = listening.listeners({port})
        entries = found[str(port)]
        assert {"address": "127.0.0.1", "family": 4} == {k: entries[0][k] for k in ("address", "family")}
        assert any(program.startswith("python") or program == "pytest" for program in entries[0]["programs"]), entries
        assert listening.missing(found, "nginx", [4]) == [f"{port}/IPv4"]
        program = entries[0]["programs"][0]
        assert listening.missing(found, program, [4]) == []
        assert listening.missing(found, program, [4, 6]) == [f"{port}/IPv6"]
    finally:
        server.close()


def test_addresses_of_the_kernel_tables_are_decoded():
    assert listening.parse_address("0100007F", 4) == "127.0.0.1"
    assert listening.parse_address("00000000000000000000000001000000", 6) == "::1"


def test_server_names_are_read_without_comments_or_case():
    text = """
    server {
        # server_name commented.example;
        listen 80;
        server_name Example.COM www.example.com  "quoted.example";
        location / { return 200; }
    }
    server { server_name
        other.example;
    }
    """
    assert server_names.server_names(text) == ["example.com", "www.example.com", "quoted.example",
                                               "other.example"]


def test_names_other_sites_claim_are_found_and_the_sites_own_file_is_not_counted(tmp_path):
    ours, theirs = tmp_path / "ours.conf", tmp_path / "theirs.conf"
    ours.write_text("server { server_name hello.test www.hello.test; }")
    theirs.write_text("server { server_name legacy.test HELLO.test.; }")
    link = tmp_path / "enabled.conf"
    link.symlink_to(ours)
    files = server_names.read([str(tmp_path / "*.conf")])
    claimed = server_names.claimed(files, ["hello.test", "www.hello.test"], [str(ours)])
    assert claimed == [{"name": "hello.test.", "path": str(theirs)}]


def lock(folder, state, token="", **options):
    return run_lock.change(str(folder), "hello", state, token, **options)


def test_a_free_lock_is_taken_and_a_second_run_waits(tmp_path):
    changed, first = lock(tmp_path, "acquired", "run-a", holder={"user": "alice"}, now=1000.0)
    assert changed and first["acquired"] and first["lock"]["expires"] == 1060.0
    changed, second = lock(tmp_path, "acquired", "run-b", holder={"user": "bob"}, now=1010.0)
    assert not changed and not second["acquired"]
    assert second["lock"]["holder"] == {"user": "alice"}
    assert oct((tmp_path / "hello.json").stat().st_mode & 0o777) == "0o600"


def test_a_renewed_lock_holds_and_a_stale_one_is_taken_over(tmp_path):
    lock(tmp_path, "acquired", "run-a", now=1000.0)
    _ignored, renewed = lock(tmp_path, "renewed", "run-a", now=1050.0)
    assert renewed["acquired"] and renewed["lock"]["expires"] == 1110.0
    assert not lock(tmp_path, "acquired", "run-b", now=1100.0)[1]["acquired"]
    changed, taken = lock(tmp_path, "acquired", "run-b", now=1111.0)
    assert changed and taken["acquired"]
    assert taken["took_over"]["token"] == "run-a"
    _ignored, lost = lock(tmp_path, "renewed", "run-a", now=1112.0)
    assert not lost["acquired"], "the old holder learns it lost the lock"


def test_a_lock_taken_by_hand_never_goes_stale_and_only_force_releases_another(tmp_path):
    lock(tmp_path, "acquired", "manual", lease=0, now=1000.0)
    assert not lock(tmp_path, "acquired", "run", now=10 ** 9)[1]["acquired"]
    assert not lock(tmp_path, "released", "run")[0]
    assert lock(tmp_path, "released", "run", force=True)[0]
    assert not (tmp_path / "hello.json").exists()


def test_check_mode_creates_no_lock_folder(tmp_path):
    folder = tmp_path / "locks"
    changed, result = lock(folder, "acquired", "run", check=True)
    assert not folder.exists()
    assert result["lock"] is None


def test_the_open_file_limit_of_the_service_manager_is_read(tmp_path):
    limits = tmp_path / "limits"
    limits.write_text("Limit                     Soft Limit           Hard Limit           Units\n"
                      "Max open files            1024                 524288               files\n")
    assert host_limits.nofile_hard(str(limits)) == 524288
    limits.write_text("Max open files            unlimited            unlimited            files\n")
    assert host_limits.nofile_hard(str(limits)) == 1 << 20
    assert host_limits.nofile_hard(str(tmp_path / "missing")) > 0


def test_the_lock_plugin_describes_its_holder():
    sys.modules.setdefault("ansible_collections", type(sys)("ansible_collections"))
    action = load("run_lock_action", "plugins/action/run_lock.py")
    text = action.describe({"since": 0, "expires": None, "holder": {
        "user": "alice", "controller": "laptop", "playbook": "lock.yml", "pid": 42, "message": "upgrade"}})
    assert text.startswith("alice@laptop (lock.yml, process 42) since 1970-01-01 00:00:00 UTC")
    assert "'upgrade'" in text and "until released with playbooks/lock.yml" in text
    assert action.alive(os.getpid(), action.process_start(os.getpid()))
    assert not action.alive(os.getpid(), "0")
    json.dumps(action.run_identity()[1])
    assert action.playbooks_run(["-i", "inventory.yml", "-e", "@vars.yml", "--limit", "web1", "playbooks/deploy.yml",
                                 "-e", "flask_app_version=v2"]) == ["deploy.yml"]


def getent(database, name):
    """What getent(1) prints for NAME, split as ansible.builtin.getent returns it (the name left out)."""
    result = subprocess.run(["getent", database, name], capture_output=True, text=True, check=False)
    return result.stdout.rstrip("\n").split(":")[1:] if result.returncode == 0 else []


def test_accounts_reads_entries_as_getent_gives_them_and_nothing_for_a_missing_name():
    missing = "flaskops-no-such-account"
    found = accounts.read(["root", "nobody", missing], ["root", "daemon", missing])
    assert found["users"] == {name: getent("passwd", name) for name in ("root", "nobody", missing)}
    assert found["groups"] == {name: getent("group", name) for name in ("root", "daemon", missing)}
    # What flask_app reads: the home at 4, the primary group at 2, the group's id at 1.
    assert (found["users"]["root"][4], found["users"]["root"][2], found["groups"]["root"][1]) == ("/root", "0", "0")
    assert found["users"][missing] == [] and found["groups"][missing] == []


@pytest.mark.parametrize(("password", "salt"), [
    ("hello world", "saltstring"), ("x" * 100, "abcdefghijklmnop"), ("pä$$wörd: with spaces", "Zz./09")])
def test_basic_auth_hashes_are_sha512_crypt_as_openssl_makes_them(password, salt):
    """nginx checks the file's hashes with the system's crypt(): they must
    be the $6$ hashes glibc and openssl make, for any length of password."""
    made = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=password.encode(),
                          capture_output=True, check=True).stdout.decode().strip()
    assert htpasswd.sha512_crypt(password.encode(), salt) == made
    assert htpasswd.matches(password, made) and not htpasswd.matches(password + "x", made)


def test_a_password_file_keeps_each_hash_whose_password_did_not_change(tmp_path):
    """A second run with the same passwords writes the same text (no change
    to report); a changed password gets a new hash, a user left out goes."""
    path = tmp_path / "site.htpasswd"
    first = htpasswd.wanted_text({"reviewer": "s3cret one", "ops": "another"}, {})
    assert [line.split(":")[0] for line in first.splitlines()] == ["ops", "reviewer"]
    assert "s3cret" not in first and "another" not in first
    path.write_text(first)
    entries, text = htpasswd.read_entries(str(path))
    assert htpasswd.wanted_text({"reviewer": "s3cret one", "ops": "another"}, entries) == text
    changed = htpasswd.wanted_text({"reviewer": "s3cret two"}, entries)
    assert changed.startswith("reviewer:$6$") and len(changed.splitlines()) == 1
    assert changed != first.splitlines()[1] + "\n"
    assert htpasswd.matches("s3cret two", changed.strip().split(":", 1)[1])
