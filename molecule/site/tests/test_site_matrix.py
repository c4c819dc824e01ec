"""Every public variable of every role, given a bad value, against the
converged stack: each case must stop the role before anything on the host
changes, naming the variable; afterwards every managed file is
byte-identical and the site answers.

The cases are built from the roles' argument specs (a wrong type for every
variable), from the kinds of value an attacker or a typo puts in names,
domains, paths, header values, environment variable names and URLs
(newline, ";", "{", "}", "$", quotes, spaces: all of them in one variable
of each kind, newline and ";" in the others), and from empty and
out-of-range values. They
run in one ansible-playbook run, one block per case, shared out between two
names of the test host that ansible runs side by side: the role is included
with the bad value, and the rescue records the error it stopped with.
"""

import json
import os
from pathlib import Path

import pytest
import yaml
from conftest import ansible_playbook, recap_changed

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
DOMAIN = "hello.test"
INJECTIONS = ["a\nb", "a;b", "a{b", "a}b", "a$b", 'a"b', "a'b", "a b"]
WRONG_TYPE = {"bool": "maybe", "int": "many", "list": {"not": "a list"}, "dict": ["not", "a dict"],
              "str": ["not", "a string"]}

# Variables whose value is free text by design (a version, a command, a
# private key, a secret's value) get the wrong-type case only.
NAMES = {name: "x{}" for name in [
    "flask_app_name", "flask_app_user", "flask_app_group", "flask_app_repo_token_user", "gunicorn_app_name",
    "gunicorn_user", "gunicorn_group", "gunicorn_unix_socket_group", "gunicorn_worker_class",
    "nginx_proxy_site_name"]}
PATHS = {"flask_app_root": "/srv/{}", "flask_app_python": "/usr/bin/{}", "flask_app_requirements": "{}.txt",
         "gunicorn_app_dir": "/srv/hello/{}", "gunicorn_venv": "/srv/hello/{}",
         "gunicorn_release_dir": "/srv/hello/releases/{}", "gunicorn_environment_file": "/srv/hello/shared/{}",
         "gunicorn_health_path": "/{}", "nginx_proxy_static_dir": "/srv/hello/current/{}",
         "nginx_proxy_static_url": "/{}/"}
DOMAINS = {"nginx_proxy_server_name": "{}.test"}
URLS = {"flask_app_repo": "https://git.example.test/{}.git", "gunicorn_bind": "unix:/run/{}.sock"}
ACME = {"nginx_proxy_acme": True, "nginx_proxy_acme_email": "ops@example.test",
        "nginx_proxy_acme_agree_tos": True}


def spec_types():
    types = {}
    for role in ("flask_app", "gunicorn", "nginx_proxy"):
        spec = yaml.safe_load((PROJECT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        for name, option in spec["argument_specs"]["main"]["options"].items():
            types[name] = (role, option.get("type", "str"))
    return types


def cases():
    """(role, variables, the variable the error must name)."""
    types = spec_types()
    found = []
    for name, (role, kind) in sorted(types.items()):
        found.append((role, {name: WRONG_TYPE[kind]}, name))
    # Every kind of injection in one variable of each kind; newline and ";"
    # in the others of that kind.
    for table in (NAMES, PATHS, DOMAINS, URLS):
        for index, (name, pattern) in enumerate(table.items()):
            for bad in INJECTIONS if index == 0 else INJECTIONS[:2]:
                found.append((types[name][0], {name: pattern.format(bad)}, name))
    for bad in INJECTIONS:
        found += [
            ("flask_app", {"flask_app_env": {f"K{bad}": "v"}}, "flask_app_env"),
            ("nginx_proxy", {"nginx_proxy_security_headers": {f"X-Test{bad}": "v"}}, "nginx_proxy_security_headers"),
        ]
    for bad in INJECTIONS[:2]:
        found += [
            ("nginx_proxy", {"nginx_proxy_server_aliases": [f"old{bad}.test"]}, "nginx_proxy_server_aliases"),
            ("nginx_proxy", {"nginx_proxy_upstreams": [f"127.0.0.1:8000{bad}"]}, "nginx_proxy_upstreams"),
            ("gunicorn", {"gunicorn_read_write_paths": [f"/srv/hello/{bad}"]}, "gunicorn_read_write_paths"),
            ("gunicorn", {"gunicorn_forwarded_allow_ips": [f"10.0.0.1{bad}"]}, "gunicorn_forwarded_allow_ips"),
            ("flask_app", {"flask_app_secret_env": {f"K{bad}": "v"}}, "flask_app_secret_env"),
            ("flask_app", {"flask_app_shared_dirs": [f"data{bad}"]}, "flask_app_shared_dirs"),
            ("nginx_proxy", {**ACME, "nginx_proxy_acme_directory": f"https://acme.test/{bad}"},
             "nginx_proxy_acme_directory"),
            ("nginx_proxy", {**ACME, "nginx_proxy_acme_email": f"ops{bad}@example.test"}, "nginx_proxy_acme_email"),
        ]
    # Header values may hold spaces, ";" and quotes of the other kind
    # (Content-Security-Policy does); never what nginx reads as syntax.
    for bad in ["a\nb", 'a"b', "a$b", "a{b", "a}b", "a\\b"]:
        found.append(("nginx_proxy", {"nginx_proxy_security_headers": {"X-Test": bad}},
                      "nginx_proxy_security_headers"))
    # Empty where a value is required, and out of range.
    found += [
        ("flask_app", {"flask_app_name": ""}, "flask_app_name"),
        ("flask_app", {"flask_app_repo": ""}, "flask_app_repo"),
        ("flask_app", {"flask_app_version": ""}, "flask_app_version"),
        ("gunicorn", {"gunicorn_wsgi_app": ""}, "gunicorn_wsgi_app"),
        ("nginx_proxy", {"nginx_proxy_server_name": ""}, "nginx_proxy_server_name"),
        ("nginx_proxy", {"nginx_proxy_upstreams": []}, "nginx_proxy_upstreams"),
        ("flask_app", {"flask_app_keep_releases": 0}, "flask_app_keep_releases"),
        ("gunicorn", {"gunicorn_workers": 0}, "gunicorn_workers"),
        ("gunicorn", {"gunicorn_timeout": -1}, "gunicorn_timeout"),
        ("gunicorn", {"gunicorn_bind": "127.0.0.1:65536"}, "gunicorn_bind"),
        ("nginx_proxy", {"nginx_proxy_listen_port": 70000}, "nginx_proxy_listen_port"),
        ("nginx_proxy", {"nginx_proxy_tls_port": 0}, "nginx_proxy_tls_port"),
        ("nginx_proxy", {"nginx_proxy_worker_connections": 8}, "nginx_proxy_worker_connections"),
        ("nginx_proxy", {"nginx_proxy_hsts_max_age": -1}, "nginx_proxy_hsts_max_age"),
        ("nginx_proxy", {"nginx_proxy_client_max_body_size": "10 m"}, "nginx_proxy_client_max_body_size"),
    ]
    return found + HOLES


# Input that passed validation once and did harm; each refused before any
# change, naming the variable. The fixture below sets up what some need on
# the host (another site's names, a link to the application's root).
HOLES = [
    # 1. every spelling of the unspecified address is public
    *[("gunicorn", {"gunicorn_bind": bind}, "gunicorn_bind")
      for bind in ("[::0]:8000", "[0::]:8000", "[0:0:0:0:0:0:0:0]:8000", "[::ffff:0.0.0.0]:8000")],
    # 2. a firewall with no accept rule: the other family, or no one
    ("gunicorn", {"gunicorn_bind": "[fd00::21]:8000", "gunicorn_allowed_clients": ["10.0.0.10"]},
     "gunicorn_allowed_clients"),
    ("gunicorn", {"gunicorn_bind": "10.0.0.21:8000", "gunicorn_allowed_clients": ["fd00::10"]},
     "gunicorn_allowed_clients"),
    ("gunicorn", {"gunicorn_bind": "10.0.0.21:8000", "gunicorn_allowed_clients": []}, "gunicorn_allowed_clients"),
    # 3. an alias that is the server name in other case, or another site's name
    ("nginx_proxy", {"nginx_proxy_server_aliases": ["HELLO.test"]}, "nginx_proxy_server_aliases"),
    ("nginx_proxy", {"nginx_proxy_server_aliases": ["Www.Hello.Test"]}, "nginx_proxy_server_aliases"),
    ("nginx_proxy", {"nginx_proxy_server_aliases": ["Legacy.test"]}, "nginx_proxy_server_aliases"),
    ("nginx_proxy", {"nginx_proxy_server_name": "legacy.test"}, "nginx_proxy_server_name"),
    # 4. static folders that would serve code, data or the deploy history
    *[("nginx_proxy", {"nginx_proxy_static_dir": folder}, "nginx_proxy_static_dir")
      for folder in ("/srv/hello", "/srv/hello/releases", "/srv/hello/current", "/srv/hello/shared/instance",
                     "/var/log/nginx", "/usr/share", "/srv/linked-to-hello", "/srv/linked-to-hello/current/static/..")],
    # 5. a root that belongs to another application or program
    ("flask_app", {"flask_app_name": "other", "flask_app_root": "/srv/hello"}, "flask_app_root"),
    ("flask_app", {"flask_app_name": "other", "flask_app_root": "/srv/git"}, "flask_app_root"),
    # 6. names of units the collection installs or the system has
    *[("flask_app", {"flask_app_name": name}, "flask_app_name") for name in ("nginx", "certbot", "nftables", "ssh")],
    ("gunicorn", {"gunicorn_app_name": "nginx"}, "gunicorn_app_name"),
    # 8. pip options instead of requirement specifiers
    *[("flask_app", {"flask_app_extra_packages": [option]}, "flask_app_extra_packages")
      for option in ("-r/etc/shadow", "--index-url=https://evil.example/simple", "-e .", "gunicorn @ https://x.example/g.whl")],
    # 9. overrides past resources and timeouts, system roots, privileged groups, malformed addresses
    *[("gunicorn", {"gunicorn_service_overrides": {key: value}}, "gunicorn_service_overrides")
      for key, value in (("ExecCondition", "/bin/true"), ("SupplementaryGroups", "shadow"), ("PassEnvironment", "PATH"),
                         ("LoadCredential", "key:/etc/shadow"), ("RootDirectory", "/"), ("NoNewPrivileges", "no"))],
    *[("gunicorn", {"gunicorn_read_write_paths": [path]}, "gunicorn_read_write_paths") for path in ("/", "/etc", "/usr", "/var")],
    ("gunicorn", {"gunicorn_group": "shadow"}, "gunicorn_group"),
    ("gunicorn", {"gunicorn_unix_socket_group": "docker"}, "gunicorn_unix_socket_group"),
    ("flask_app", {"flask_app_group": "sudo"}, "flask_app_group"),
    ("gunicorn", {"gunicorn_allowed_clients": [":"]}, "gunicorn_allowed_clients"),
    ("gunicorn", {"gunicorn_forwarded_allow_ips": ["::/0"]}, "gunicorn_forwarded_allow_ips"),
    # and the trailing newline Python's "$" lets through
    *[(role, {name: value}, name) for role, name, value in (
        ("flask_app", "flask_app_name", "hello\n"), ("flask_app", "flask_app_root", "/srv/hello\n"),
        ("gunicorn", "gunicorn_bind", "127.0.0.1:8000\n"), ("nginx_proxy", "nginx_proxy_server_name", "hello.test\n"),
        ("nginx_proxy", "nginx_proxy_static_dir", "/srv/hello/current/static\n"),
        ("flask_app", "flask_app_version", "main\n"))],
]


@pytest.fixture
def holes_setup(fleet):
    """Another site claiming legacy.test, and a link to the application's root."""
    for host in fleet.values():
        host.run_expect([0], "printf 'server {\\n  listen 80;\\n  server_name legacy.test;\\n  return 200;\\n}\\n' "
                             "> /etc/nginx/sites-enabled/legacy.conf && nginx -t && systemctl reload nginx")
        host.run_expect([0], "ln -sfn /srv/hello /srv/linked-to-hello")
    yield
    for host in fleet.values():
        host.run("rm -f /etc/nginx/sites-enabled/legacy.conf /srv/linked-to-hello && systemctl reload nginx")


# What the roles manage on the host, as the test compares it: every file's
# checksum and mode, the build caches, the release links, the accounts, the
# firewall's rule set, the kernel setting, the services' processes.
SNAPSHOT = (
    "find /etc/nginx /etc/gunicorn /etc/flaskops /etc/systemd/system /etc/sysctl.d /srv/hello /var/lib/gunicorn "
    "/usr/local/lib/flaskops /var/www -xdev \\( -path /srv/hello/releases -prune \\) -o -type f "
    "-printf '%m %u %g %p\\n' -exec sha256sum {} + 2>/dev/null | sort; "
    "find /var/cache/flaskops /srv/hello/releases -maxdepth 3 -printf '%m %u %g %p\\n' | sort; "
    "nft list ruleset; sysctl net.core.somaxconn; "
    "readlink /srv/hello/current; getent passwd hello hello-build www-data; getent group hello hello-build; "
    "systemctl show --property MainPID --value hello.service nginx.service"
)


def case_tasks(found, numbers):
    """One block per case: the role with the bad value, the error recorded."""
    tasks = []
    for number in numbers:
        role, variables, _ignored = found[number]
        tasks.append({
            "name": f"Case {number}",
            "block": [
                {"name": "Apply the role with the bad value",
                 "ansible.builtin.include_role": {"name": f"flaskops.stack.{role}"},
                 "vars": variables},
                {"name": "Note that it was not stopped",
                 "ansible.builtin.set_fact": {"matrix": f"{{{{ matrix + [{{'case': {number}, 'stopped': false}}] }}}}"}},
            ],
            "rescue": [
                {"name": "Note the error it stopped with",
                 "ansible.builtin.set_fact": {"matrix": (
                     f"{{{{ matrix + [{{'case': {number}, 'stopped': true, "
                     "'task': ansible_failed_task.name | default(''), "
                     "'msg': (ansible_failed_result.msg | default('')) | string}] }}")}},
            ],
        })
    return tasks


def write_playbook(folder, found, hosts):
    """The matrix shared out between the inventory's names, which run their
    shares side by side (strategy free): each case runs once."""
    for index, host in enumerate(hosts):
        dump(folder / f"cases-{host}.yml", case_tasks(found, range(index, len(found), len(hosts))))
    play = [{
        "name": "Every bad input against the converged stack",
        "hosts": "all", "become": True, "gather_facts": False, "strategy": "free",
        "vars": {"matrix": [],
                 # As playbooks/vars/app_tier.yml wires gunicorn to the live release.
                 "gunicorn_app_name": "hello", "gunicorn_wsgi_app": "hello:app",
                 "gunicorn_environment_file": "/srv/hello/shared/hello.env",
                 "gunicorn_read_write_paths": ["/srv/hello/shared"]},
        "tasks": [
            {"name": "Run this host's share of the cases",
             "ansible.builtin.include_tasks": f"{folder}/cases-{{{{ inventory_hostname }}}}.yml"},
            {"name": "Write what each case stopped with",
             "ansible.builtin.copy": {"content": "{{ matrix | to_json }}",
                                      "dest": f"{folder}/{{{{ inventory_hostname }}}}.json", "mode": "0600"},
             "delegate_to": "localhost", "become": False, "changed_when": False},
        ],
    }]
    dump(folder / "bad-input.yml", play)
    return folder / "bad-input.yml"


def dump(path, data):
    path.write_text(yaml.dump(data, Dumper=PlainDumper, sort_keys=False, width=1000))


class PlainDumper(yaml.SafeDumper):
    """Every value written out where it is used: no anchors and aliases."""

    def ignore_aliases(self, data):
        return True


def shard_inventory(shards=2):
    """The scenario's inventory with each host also under other names (same
    address, same groups), so that ansible runs shares of the matrix side by
    side on one host: [(name, [its names])]."""
    source = Path(os.environ["MOLECULE_INVENTORY_FILE"])
    inventory = yaml.safe_load(source.read_text())
    names = {}
    for group in inventory.values():
        hosts = (group or {}).get("hosts") or {}
        for name, hostvars in list(hosts.items()):
            names[name] = [name] + [f"{name}-share{k}" for k in range(1, shards)]
            for alias in names[name][1:]:
                hosts[alias] = dict(hostvars or {})
    # Beside the original, so that its group_vars apply too.
    target = source.parent / "matrix-inventory.yml"
    dump(target, inventory)
    return target, names


def test_every_bad_input_stops_before_anything_changes(fleet, tmp_path, record, holes_setup, fleet_requests):
    found = cases()
    inventory, names = shard_inventory()
    everyone = sorted(alias for aliases in names.values() for alias in aliases)
    playbook = write_playbook(tmp_path, found, everyone)
    before = {name: host.check_output(SNAPSHOT) for name, host in fleet.items()}
    requests = fleet_requests(DOMAIN)

    rc, output = ansible_playbook(playbook, "-i", str(inventory))

    reports = requests()
    for name, report in reports.items():
        record("bad-input matrix: requests through nginx while every case ran", name,
               sent=report["sent"], failed=report["failed"])
        assert report["failed"] == 0, report["errors"]

    assert rc == 0, output[-3000:]
    assert {recap_changed(output, alias) for alias in everyone} == {0}, output[-5000:]
    results = {}
    for alias in everyone:
        for result in json.loads((tmp_path / f"{alias}.json").read_text()):
            results[result["case"]] = result
    wrong = []
    for number, (role, variables, variable) in enumerate(found):
        result = results.get(number, {})
        if not result.get("stopped") or variable not in result.get("msg", ""):
            wrong.append((role, variables, variable, result.get("task"), result.get("msg", "")[:300]))
    record("bad-input matrix: cases that stopped before any change, naming the variable",
           " and ".join(sorted(fleet)), cases=len(found), wrong=len(wrong))
    assert not wrong, "\n".join(map(repr, wrong))
    for name, host in fleet.items():
        assert host.check_output(SNAPSHOT) == before[name]
        assert host.run(f"curl --silent --fail --output /dev/null --header 'Host: {DOMAIN}' "
                        "http://127.0.0.1/").rc == 0
