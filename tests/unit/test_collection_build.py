"""The collection builds, leaves development files out, and installs for use elsewhere."""

import os
import subprocess
import tarfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY = ("molecule", "testbed", "tests", ".ci", ".config", ".venv", ".testbed",
            "inventories/demo", "Makefile", "requirements-dev.txt", "ansible.cfg")


def run(*argv, env=None, cwd=None):
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_built_collection_installs_and_its_roles_resolve(tmp_path):
    installed = tmp_path / "collections"
    # A project elsewhere: no ansible.cfg of ours, only the installed collection.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_COLLECTIONS_PATH")}
    env.pop("ANSIBLE_CONFIG", None)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(installed)

    run("ansible-galaxy", "collection", "build", "--output-path", str(tmp_path / "dist"), str(ROOT),
        env=env, cwd=tmp_path)
    tarball = next((tmp_path / "dist").glob("flaskops-stack-*.tar.gz"))

    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    for needed in ("roles/flask_app/tasks/main.yml", "roles/gunicorn/meta/argument_specs.yml",
                   "roles/nginx_proxy/templates/site.conf.j2", "playbooks/site.yml",
                   "inventories/production/hosts.yml", "meta/runtime.yml", "README.md"):
        assert needed in names, f"{needed} is missing from the built collection"
    for excluded in DEV_ONLY:
        assert not [n for n in names if n == excluded or n.startswith(excluded + "/")], excluded

    run("ansible-galaxy", "collection", "install", "--offline", "-p", str(installed), str(tarball),
        env=env, cwd=tmp_path)
    assert (installed / "ansible_collections" / "flaskops" / "stack" / "MANIFEST.json").exists()

    playbook = tmp_path / "project" / "deploy.yml"
    playbook.parent.mkdir()
    playbook.write_text(textwrap.dedent("""\
        - name: Use every role by its full name
          hosts: all
          become: true
          roles:
            - role: flaskops.stack.flask_app
            - role: flaskops.stack.gunicorn
            - role: flaskops.stack.nginx_proxy
        """))
    run("ansible-playbook", "--syntax-check", "-i", "localhost,", str(playbook),
        env=env, cwd=playbook.parent)
    # The playbooks by their full names, as the README runs them from an
    # installed collection: each resolves, and so do the playbooks it imports.
    for name in ("site", "deploy", "rollback", "lock"):
        result = run("ansible-playbook", "--syntax-check", "-i", "localhost,", f"flaskops.stack.{name}",
                     env=env, cwd=playbook.parent)
        assert f"/ansible_collections/flaskops/stack/playbooks/{name}.yml" in result.stdout, result.stdout
