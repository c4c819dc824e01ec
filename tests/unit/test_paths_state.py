"""flaskops.stack.paths_state and path_differs: the one read that lets a
run that changes nothing skip a task per path, and never skip one that
has work to do."""

import grp
import hashlib
import os
import pwd

from collection_files import load

paths_state = load("paths_state", "plugins/modules/paths_state.py")
path_differs = load("path_differs", "plugins/filter/path_differs.py").path_differs
OWNER = pwd.getpwuid(os.getuid())[0]
GROUP = grp.getgrgid(os.getgid())[0]


def probe(*paths):
    return {str(path): paths_state.read(str(path)) for path in paths}


def test_a_file_as_wanted_is_skipped_and_any_difference_runs_its_task(tmp_path):
    conf = tmp_path / "site.conf"
    conf.write_text("server {}\n")
    conf.chmod(0o644)
    have = probe(conf)
    wanted = {"dest": str(conf), "owner": OWNER, "group": GROUP, "mode": "0644", "content": "server {}\n"}
    assert not path_differs(wanted, have)
    assert path_differs(dict(wanted, content="server { }\n"), have)
    assert path_differs(dict(wanted, mode="0600"), have)
    assert path_differs(dict(wanted, owner="nobody-else"), have)
    assert path_differs(dict(wanted, group="nogroup-else"), have)
    assert path_differs(dict(wanted, state="directory"), have)
    assert path_differs(dict(wanted, state="absent"), have)
    assert not path_differs({"dest": str(conf), "checksum": hashlib.sha1(b"server {}\n").hexdigest()}, have)


def test_folders_links_and_absent_paths(tmp_path):
    folder = tmp_path / "releases"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    link = tmp_path / "current"
    link.symlink_to(folder)
    missing = tmp_path / "staged.env"
    have = probe(folder, link, missing)
    assert not path_differs({"path": str(folder), "state": "directory", "mode": "0755"}, have)
    assert path_differs({"path": str(folder), "state": "directory", "mode": "0700"}, have)
    assert not path_differs({"path": str(link), "state": "link", "src": str(folder)}, have)
    assert path_differs({"path": str(link), "state": "link", "src": str(tmp_path / "other")}, have)
    assert have[str(link)]["resolved"] == str(folder)
    assert not path_differs({"path": str(missing), "state": "absent"}, have)
    assert path_differs({"path": str(missing), "state": "directory"}, have)


def test_a_path_the_probe_did_not_read_differs(tmp_path):
    assert path_differs({"path": str(tmp_path), "state": "directory"}, {})
    assert path_differs({"path": str(tmp_path), "state": "directory"}, None)


def test_no_checksum_without_asking_for_it(tmp_path):
    secret = tmp_path / "deploy_key"
    secret.write_text("-----BEGIN KEY-----\n")
    assert paths_state.read(str(secret), hashed=False)["checksum"] is None
    assert paths_state.read(str(secret))["checksum"] == hashlib.sha1(b"-----BEGIN KEY-----\n").hexdigest()
    # Without a checksum to compare with, wanted content makes the task run.
    have = {str(secret): paths_state.read(str(secret), hashed=False)}
    assert path_differs({"path": str(secret), "content": "-----BEGIN KEY-----\n"}, have)


def test_a_path_under_a_file_reads_as_missing(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert paths_state.read(str(plain / "below"))["exists"] is False


def test_sha256_and_text_on_request(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("flask==3.1.0\n")
    stamp = tmp_path / ".flaskops-built"
    stamp.write_text('{"sha256": "x"}\n')
    have = paths_state.read(str(requirements), algorithm="sha256")
    assert have["checksum"] == hashlib.sha256(b"flask==3.1.0\n").hexdigest()
    assert have["content"] is None
    assert paths_state.read(str(stamp), text=True)["content"] == '{"sha256": "x"}\n'
    # Content is compared with the probe's own algorithm.
    assert not path_differs({"path": str(requirements), "content": "flask==3.1.0\n"}, {str(requirements): have})
    assert path_differs({"path": str(requirements), "content": "flask==3.0.0\n"}, {str(requirements): have})
