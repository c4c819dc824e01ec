"""Bad input stops each role before anything changes, naming the variable.

Each case runs the role with ansible-playbook against this machine in check
mode (so even a missed check could change nothing) and expects the play to
fail with a message that names the offending variable.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from collection_files import check_playbook

ROOT = Path(__file__).resolve().parents[2]

VALID = {
    "flask_app": {"flask_app_name": "hello", "flask_app_repo": "https://example.invalid/hello.git"},
    "gunicorn": {"gunicorn_app_name": "hello", "gunicorn_wsgi_app": "hello:app"},
    "nginx_proxy": {"nginx_proxy_server_name": "example.com"},
}

# The settings ACME needs.
ACME = {"nginx_proxy_acme": True, "nginx_proxy_acme_agree_tos": True, "nginx_proxy_acme_email": "ops@example.com"}

# A scheduled job that passes every check.
TICK = {"command": "python tick.py", "on_calendar": "daily"}

BAD = [
    ("flask_app", {"flask_app_name": "Hello/../x"}, "flask_app_name"),
    ("flask_app", {"flask_app_name": "hello world"}, "flask_app_name"),
    ("flask_app", {"flask_app_repo": ""}, "flask_app_repo"),
    ("flask_app", {"flask_app_version": "--upload-pack=touch /tmp/x"}, "flask_app_version"),
    ("flask_app", {"flask_app_root": "srv/hello"}, "flask_app_root"),
    ("flask_app", {"flask_app_root": "/"}, "flask_app_root"),
    ("flask_app", {"flask_app_user": "root"}, "flask_app_user"),
    ("flask_app", {"flask_app_keep_releases": 0}, "flask_app_keep_releases"),
    ("flask_app", {"flask_app_env": {"BAD KEY": "x"}}, "flask_app_env"),
    ("flask_app", {"flask_app_secret_env": {"KEY": "two\nlines"}}, "flask_app_secret_env"),
    ("flask_app", {"flask_app_requirements": "../etc/passwd"}, "flask_app_requirements"),
    # The folder the proxies serve to anyone: no code, no hidden or shared data.
    *[("flask_app", {"flask_app_static_folder": folder}, "flask_app_static_folder")
      for folder in [".git", ".venv", "app/.env", "../static", "/srv/hello/static", "static\n", "static folder",
                     "instance", "instance/static"]],
    ("flask_app", {"flask_app_env": {"SECRET_KEY": "visible"}}, "flask_app_secret_env"),
    ("flask_app", {"flask_app_deploy_key": "ssh-ed25519 AAAA... (a public key)"}, "flask_app_deploy_key"),
    ("flask_app", {"flask_app_git_known_hosts": "github.com ssh-ed25519 AAAA"}, "flask_app_git_known_hosts"),
    ("flask_app", {"flask_app_pre_switch_commands": ["flask db upgrade\nrm -rf /"]},
     "flask_app_pre_switch_commands"),
    ("flask_app", {"flask_app_pre_switch_commands": "flask db upgrade"}, "flask_app_pre_switch_commands"),
    ("flask_app", {"flask_app_processes": ["rq worker"]}, "flask_app_processes"),
    ("flask_app", {"flask_app_processes": {"Worker": {"command": "rq worker"}}}, "flask_app_processes"),
    ("flask_app", {"flask_app_processes": {"worker": {"count": 2}}}, "flask_app_processes"),
    ("flask_app", {"flask_app_processes": {"worker": {"command": "rq worker\n"}}}, "flask_app_processes"),
    ("flask_app", {"flask_app_processes": {"worker": {"command": "rq 'worker"}}}, "flask_app_processes"),
    ("flask_app", {"flask_app_processes": {"worker": {"command": "rq worker", "count": 0}}}, "flask_app_processes"),
    ("flask_app", {"flask_app_processes": {"worker": {"command": "rq worker", "count": 65}}}, "flask_app_processes"),
    ("flask_app", {"flask_app_processes": {"worker": {"command": "rq worker", "stop_timeout": "1m"}}},
     "flask_app_processes"),
    ("flask_app", {"flask_app_processes": {"worker": {"command": "rq worker", "user": "root"}}},
     "flask_app_processes"),
    ("flask_app", {"flask_app_process_settle": 0}, "flask_app_process_settle"),
    ("flask_app", {"flask_app_timers": {"tick": {"command": "python tick.py"}}}, "flask_app_timers"),
    ("flask_app", {"flask_app_timers": {"tick": {"command": "python tick.py", "on_calendar": "daily\n"}}},
     "flask_app_timers"),
    ("flask_app", {"flask_app_timers": {"tick": {"command": "python tick.py", "on_calendar": "every tuesday"}}},
     "flask_app_timers"),
    ("flask_app", {"flask_app_timers": {"tick": dict(TICK, persistent="maybe")}}, "flask_app_timers"),
    ("flask_app", {"flask_app_timers": {"tick": dict(TICK, randomized_delay=-1)}}, "flask_app_timers"),
    ("flask_app", {"flask_app_timers": {"firewall": {"command": "python tick.py", "on_calendar": "daily"}}},
     "flask_app_timers"),
    ("flask_app", {"flask_app_timers": {"tick": {"command": "", "on_calendar": "daily"}}}, "flask_app_timers"),
    ("flask_app", {"flask_app_timer_host": "app1\n"}, "flask_app_timer_host"),
    ("flask_app", {"flask_app_timer_host": "app-1-typo"}, "flask_app_timer_host"),
    ("flask_app", {"flask_app_process_settle": "5\n"}, "flask_app_process_settle"),
    ("gunicorn", {"gunicorn_bind": "0.0.0.0:8000"}, "gunicorn_bind_public"),
    ("gunicorn", {"gunicorn_bind": "[::]:8000"}, "gunicorn_bind_public"),
    ("gunicorn", {"gunicorn_bind": "localhost:8000"}, "gunicorn_bind"),
    ("gunicorn", {"gunicorn_bind": "127.0.0.1:70000"}, "gunicorn_bind"),
    ("gunicorn", {"gunicorn_wsgi_app": "hello:app; rm -rf /"}, "gunicorn_wsgi_app"),
    ("gunicorn", {"gunicorn_user": "root"}, "gunicorn_user"),
    ("gunicorn", {"gunicorn_workers": 0}, "gunicorn_workers"),
    ("gunicorn", {"gunicorn_app_dir": "relative/dir"}, "gunicorn_app_dir"),
    ("gunicorn", {"gunicorn_forwarded_allow_ips": ["*"]}, "gunicorn_forwarded_allow_ips"),
    ("gunicorn", {"gunicorn_max_requests": -1}, "gunicorn_max_requests"),
    ("gunicorn", {"gunicorn_service_overrides": {"User": "root"}}, "gunicorn_service_overrides"),
    ("gunicorn", {"gunicorn_service_overrides": {"PrivateTmp": "yes\nExecStartPre=/bin/sh"}},
     "gunicorn_service_overrides"),
    ("gunicorn", {"gunicorn_service_overrides": {"NotifyAccess": "none"}}, "gunicorn_service_overrides"),
    ("gunicorn", {"gunicorn_release_dir": "releases/abc"}, "gunicorn_release_dir"),
    ("gunicorn", {"gunicorn_release_dir": "/srv/hello/current"}, "gunicorn_release_dir"),
    ("gunicorn", {"gunicorn_environment_file_staged": "/srv/hello/shared/hello.env.staged"},
     "gunicorn_environment_file_staged"),
    ("flask_app", {"flask_app_resolved_commit": "main"}, "flask_app_resolved_commit"),
    ("flask_app", {"flask_app_switch": "maybe"}, "flask_app_switch"),
    ("flask_app", {"flask_app_switch": "true\n"}, "flask_app_switch"),
    ("flask_app", {"flask_app_runner_switches": "maybe"}, "flask_app_runner_switches"),
    ("flask_app", {"flask_app_runner_switches": "yes\n"}, "flask_app_runner_switches"),
    ("flask_app", {"flask_app_runner_switches": 2}, "flask_app_runner_switches"),
    ("nginx_proxy", {"nginx_proxy_server_name": "example.com; return 200"}, "nginx_proxy_server_name"),
    ("nginx_proxy", {"nginx_proxy_server_name": "exa mple.com"}, "nginx_proxy_server_name"),
    ("nginx_proxy", {"nginx_proxy_server_name": "example.com}"}, "nginx_proxy_server_name"),
    ("nginx_proxy", {"nginx_proxy_server_name": "example.com\nlisten 81"}, "nginx_proxy_server_name"),
    ("nginx_proxy", {"nginx_proxy_upstreams": ["127.0.0.1"]}, "nginx_proxy_upstreams"),
    ("nginx_proxy", {"nginx_proxy_server_directives": "add_header X y;"}, "nginx_proxy_server_directives"),
    ("nginx_proxy", {"nginx_proxy_server_directives": ["add_header X y;\n"]}, "nginx_proxy_server_directives"),
    ("nginx_proxy", {"nginx_proxy_server_directives": ["add_header X y"]}, "nginx_proxy_server_directives"),
    ("nginx_proxy", {"nginx_proxy_server_directives": ["location /x { return 200; }"]},
     "nginx_proxy_server_directives"),
    ("nginx_proxy", {"nginx_proxy_server_directives": ["add_header X y; return 200;"]},
     "nginx_proxy_server_directives"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"directives": ["return 200;"]}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/", "streaming": True}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/\n"}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/ {"}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "[a-z]+{2}", "match": "regex"}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/", "match": "glob"}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/", "proxy": False}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/", "proxy": False, "websocket": True,
                                                "directives": ["return 200;"]}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/", "read_timeout": 0}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/", "buffering": False}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/", "allow": ["0.0.0.0/0"]}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/", "allow": ["10.0.0.0/8\n"]}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/", "rate_limit": "login"}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/"}, {"path": "/x/", "match": "prefix"}]},
     "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/", "basic_auth": "sometimes"}]}, "nginx_proxy_locations"),
    ("nginx_proxy", {"nginx_proxy_basic_auth": "maybe"}, "nginx_proxy_basic_auth"),
    ("nginx_proxy", {"nginx_proxy_basic_auth": True}, "nginx_proxy_basic_auth_users"),
    ("nginx_proxy", {"nginx_proxy_locations": [{"path": "/x/", "basic_auth": True}]}, "nginx_proxy_basic_auth_users"),
    ("nginx_proxy", {"nginx_proxy_basic_auth_users": ["reviewer"]}, "nginx_proxy_basic_auth_users"),
    ("nginx_proxy", {"nginx_proxy_basic_auth_users": {"a:b": "s3cret-pass"}}, "nginx_proxy_basic_auth_users"),
    ("nginx_proxy", {"nginx_proxy_basic_auth_users": {"reviewer\n": "s3cret-pass"}}, "nginx_proxy_basic_auth_users"),
    ("nginx_proxy", {"nginx_proxy_basic_auth_users": {"reviewer": ""}}, "nginx_proxy_basic_auth_users"),
    ("nginx_proxy", {"nginx_proxy_basic_auth_realm": "Staging $host"}, "nginx_proxy_basic_auth_realm"),
    ("nginx_proxy", {"nginx_proxy_basic_auth_realm": "Staging\n"}, "nginx_proxy_basic_auth_realm"),
    ("nginx_proxy", {"nginx_proxy_rate_limits": {"login": {"rate": "5r/h"}}}, "nginx_proxy_rate_limits"),
    ("nginx_proxy", {"nginx_proxy_rate_limits": {"login": {"rate": "5r/s\n"}}}, "nginx_proxy_rate_limits"),
    ("nginx_proxy", {"nginx_proxy_rate_limits": {"login": {"burst": 5}}}, "nginx_proxy_rate_limits"),
    ("nginx_proxy", {"nginx_proxy_rate_limits": {"Login!": {"rate": "5r/s"}}}, "nginx_proxy_rate_limits"),
    ("nginx_proxy", {"nginx_proxy_real_ip_from": ["0.0.0.0/0"]}, "nginx_proxy_real_ip_from"),
    ("nginx_proxy", {"nginx_proxy_real_ip_from": ["::/0"]}, "nginx_proxy_real_ip_from"),
    ("nginx_proxy", {"nginx_proxy_real_ip_from": ["10.0.0.0/8\n"]}, "nginx_proxy_real_ip_from"),
    ("nginx_proxy", {"nginx_proxy_real_ip_header": "X-Forwarded-For\n"}, "nginx_proxy_real_ip_header"),
    ("nginx_proxy", {"nginx_proxy_access_log": "/var/log/nginx/site.log\n"}, "nginx_proxy_access_log"),
    ("nginx_proxy", {"nginx_proxy_access_log": "/etc/passwd"}, "nginx_proxy_access_log"),
    ("nginx_proxy", {"nginx_proxy_error_log": "/var/log/nginx/site.txt"}, "nginx_proxy_error_log"),
    ("nginx_proxy", {"nginx_proxy_log_format": "JSON"}, "nginx_proxy_log_format"),
    ("nginx_proxy", {"nginx_proxy_request_id_trusted": "maybe"}, "nginx_proxy_request_id_trusted"),
    ("nginx_proxy", {"nginx_proxy_error_pages": {500: "<p>oops</p>"}}, "nginx_proxy_error_pages"),
    ("nginx_proxy", {"nginx_proxy_error_pages": {502: "<p>$host</p>"}}, "nginx_proxy_error_pages"),
    ("nginx_proxy", {"nginx_proxy_error_pages": {502: ""}}, "nginx_proxy_error_pages"),
    ("nginx_proxy", {"nginx_proxy_error_pages": ["<p>down</p>"]}, "nginx_proxy_error_pages"),
    ("nginx_proxy", {"nginx_proxy_maintenance": "maybe"}, "nginx_proxy_maintenance"),
    ("nginx_proxy", {"nginx_proxy_maintenance_allow": ["0.0.0.0/0"]}, "nginx_proxy_maintenance_allow"),
    ("nginx_proxy", {"nginx_proxy_maintenance_allow": ["192.0.2.1\n"]}, "nginx_proxy_maintenance_allow"),
    ("nginx_proxy", {"nginx_proxy_maintenance_page": "<p>${x}</p>"}, "nginx_proxy_maintenance_page"),
    ("nginx_proxy", {"nginx_proxy_maintenance_retry_after": 0}, "nginx_proxy_maintenance_retry_after"),
    ("nginx_proxy", {"nginx_proxy_upstreams": ["127.0.0.1:8000;"]}, "nginx_proxy_upstreams"),
    ("nginx_proxy", {"nginx_proxy_listen_port": 65536}, "nginx_proxy_listen_port"),
    ("nginx_proxy", {"nginx_proxy_listen_port": 0}, "nginx_proxy_listen_port"),
    ("nginx_proxy", {"nginx_proxy_server_aliases": ["old.example.com;"]}, "nginx_proxy_server_aliases"),
    ("nginx_proxy", {"nginx_proxy_security_headers": {"X-Frame-Options": 'DENY" always; add_header X "'}},
     "nginx_proxy_security_headers"),
    ("nginx_proxy", {"nginx_proxy_tls_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n"},
     "nginx_proxy_tls_certificate_key"),
    ("nginx_proxy", {"nginx_proxy_tls_port": 80}, "nginx_proxy_tls_port"),
    ("nginx_proxy", {"nginx_proxy_static_expires": "7d; return 200"}, "nginx_proxy_static_expires"),
    ("nginx_proxy", {"nginx_proxy_next_upstream_timeout": 60}, "nginx_proxy_next_upstream_timeout"),
    ("nginx_proxy", {"nginx_proxy_acme": True, "nginx_proxy_acme_email": "ops@example.com"},
     "nginx_proxy_acme_agree_tos"),
    ("nginx_proxy", {"nginx_proxy_acme": True, "nginx_proxy_acme_agree_tos": True}, "nginx_proxy_acme_email"),
    ("nginx_proxy", {"nginx_proxy_acme": True, "nginx_proxy_acme_agree_tos": True,
                     "nginx_proxy_acme_email": "ops@example.com\nX", "nginx_proxy_acme_key_type": "dsa"},
     "nginx_proxy_acme_key_type"),
    ("nginx_proxy", {"nginx_proxy_acme": True, "nginx_proxy_acme_agree_tos": True,
                     "nginx_proxy_acme_email": "ops@example.com",
                     "nginx_proxy_acme_directory": "http://acme.example.com/dir"}, "nginx_proxy_acme_directory"),
    # A follower of another proxy's certificate (the inventory has "primary").
    *[("nginx_proxy", {**ACME, **given}, variable) for given, variable in [
        ({"nginx_proxy_acme_primary": "nowhere"}, "nginx_proxy_acme_primary"),
        ({"nginx_proxy_acme_primary": "primary\n"}, "nginx_proxy_acme_primary"),
        ({"nginx_proxy_acme_primary": "primary other"}, "nginx_proxy_acme_primary"),
        ({"nginx_proxy_acme_primary": "primary"}, "nginx_proxy_acme_primary_address"),
        *[({"nginx_proxy_acme_primary": "primary", "nginx_proxy_acme_primary_address": address},
           "nginx_proxy_acme_primary_address")
          for address in ["0.0.0.0", "::", "[::]", "::ffff:0.0.0.0", "0:0:0:0:0:0:0:0", "224.0.0.1",
                          "10.0.0.10\n", "primary.example.com", "10.0.0.0/24", "fe80::1%eth0"]]]],
    ("gunicorn", {"gunicorn_allowed_clients": ["10.0.0.10", "10.0.0.0/24; accept"]}, "gunicorn_allowed_clients"),
    # Roots and paths the sandbox hides, or that belong to the system.
    ("flask_app", {"flask_app_root": "/tmp"}, "flask_app_root"),
    ("flask_app", {"flask_app_root": "/tmp/hello"}, "flask_app_root"),
    ("flask_app", {"flask_app_root": "/var/tmp/hello"}, "flask_app_root"),
    ("flask_app", {"flask_app_root": "/home/deploy/hello"}, "flask_app_root"),
    ("flask_app", {"flask_app_root": "/root/hello"}, "flask_app_root"),
    ("flask_app", {"flask_app_root": "/run/hello"}, "flask_app_root"),
    ("flask_app", {"flask_app_root": "/usr/lib/hello"}, "flask_app_root"),
    ("flask_app", {"flask_app_root": "/etc/hello"}, "flask_app_root"),
    ("flask_app", {"flask_app_root": "/var/lib/"}, "flask_app_root"),
    ("flask_app", {"flask_app_root": "/srv/./hello"}, "flask_app_root"),
    ("gunicorn", {"gunicorn_bind": "unix:/tmp/hello.sock"}, "gunicorn_bind"),
    ("gunicorn", {"gunicorn_app_dir": "/home/deploy/hello/current"}, "gunicorn_app_dir"),
    ("gunicorn", {"gunicorn_read_write_paths": ["/srv/hello/shared", "/tmp/uploads"]}, "gunicorn_read_write_paths"),
    *[("nginx_proxy", {"nginx_proxy_static_releases": folder}, "nginx_proxy_static_releases")
      for folder in ["/", "/var/www", "/etc/nginx", "/srv/hello/static", "/srv", "/var/lib/static", "/tmp/static",
                     "static", "/var/www/flaskops-static/hello\n", "/var/www/.static"]],
    ("nginx_proxy", {"nginx_proxy_static_releases": "/var/www/flaskops-static/hello",
                     "nginx_proxy_static_dir": "/var/www/hello-static"}, "nginx_proxy_static_releases"),
    ("nginx_proxy", {"nginx_proxy_static_dir": "/"}, "nginx_proxy_static_dir"),
    ("nginx_proxy", {"nginx_proxy_static_dir": "/etc/nginx"}, "nginx_proxy_static_dir"),
    ("nginx_proxy", {"nginx_proxy_static_dir": "/srv"}, "nginx_proxy_static_dir"),
    ("nginx_proxy", {"nginx_proxy_static_dir": "/home/deploy/static"}, "nginx_proxy_static_dir"),
    ("nginx_proxy", {"nginx_proxy_static_dir": "/srv/hello/current/.git"}, "nginx_proxy_static_dir"),
    # https credentials.
    ("flask_app", {"flask_app_repo_token": "two words"}, "flask_app_repo_token"),
    ("flask_app", {"flask_app_repo": "ssh://git@example.invalid/hello.git", "flask_app_repo_token": "t0ken"},
     "flask_app_repo_token"),
    ("flask_app", {"flask_app_repo": "https://u:p4ss@example.invalid/hello.git", "flask_app_repo_token": "t0ken"},
     "flask_app_repo_token"),
    ("flask_app", {"flask_app_repo_token": "t0ken", "flask_app_repo_token_user": "a:b"}, "flask_app_repo_token_user"),
    ("gunicorn", {"gunicorn_bind": "10.0.0.21:8000", "gunicorn_forwarded_allow_ips": ["10.0.0.10"]},
     "gunicorn_allowed_clients"),
    # Every spelling of the unspecified address is public.
    ("gunicorn", {"gunicorn_bind": "[::0]:8000"}, "gunicorn_bind"),
    ("gunicorn", {"gunicorn_bind": "[0::]:8000"}, "gunicorn_bind"),
    ("gunicorn", {"gunicorn_bind": "[0:0:0:0:0:0:0:0]:8000"}, "gunicorn_bind"),
    # A firewall with no accept rule: the other family, or nobody.
    ("gunicorn", {"gunicorn_bind": "[fd00::21]:8000", "gunicorn_allowed_clients": ["10.0.0.10"]},
     "gunicorn_allowed_clients"),
    ("gunicorn", {"gunicorn_bind": "10.0.0.21:8000", "gunicorn_allowed_clients": ["fd00::10"]},
     "gunicorn_allowed_clients"),
    ("gunicorn", {"gunicorn_bind": "10.0.0.21:8000", "gunicorn_allowed_clients": []}, "gunicorn_allowed_clients"),
    ("gunicorn", {"gunicorn_allowed_clients": [":"]}, "gunicorn_allowed_clients"),
    ("gunicorn", {"gunicorn_forwarded_allow_ips": ["0.0.0.0/0"]}, "gunicorn_forwarded_allow_ips"),
    ("gunicorn", {"gunicorn_service_overrides": {"ExecCondition": "/bin/true"}}, "gunicorn_service_overrides"),
    ("gunicorn", {"gunicorn_service_overrides": {"SupplementaryGroups": "shadow"}}, "gunicorn_service_overrides"),
    ("gunicorn", {"gunicorn_read_write_paths": ["/"]}, "gunicorn_read_write_paths"),
    ("gunicorn", {"gunicorn_read_write_paths": ["/etc"]}, "gunicorn_read_write_paths"),
    ("gunicorn", {"gunicorn_group": "shadow"}, "gunicorn_group"),
    ("gunicorn", {"gunicorn_unix_socket_group": "docker"}, "gunicorn_unix_socket_group"),
    ("flask_app", {"flask_app_group": "adm"}, "flask_app_group"),
    ("flask_app", {"flask_app_extra_packages": ["-r/etc/shadow"]}, "flask_app_extra_packages"),
    ("flask_app", {"flask_app_extra_packages": ["--index-url=https://evil.example/simple"]},
     "flask_app_extra_packages"),
    ("flask_app", {"flask_app_name": "nginx"}, "flask_app_name"),
    ("flask_app", {"flask_app_name": "certbot"}, "flask_app_name"),
    ("gunicorn", {"gunicorn_app_name": "nftables"}, "gunicorn_app_name"),
    ("nginx_proxy", {"nginx_proxy_server_aliases": ["Example.COM"]}, "nginx_proxy_server_aliases"),
    ("nginx_proxy", {"nginx_proxy_server_aliases": ["WWW.example.com"]}, "nginx_proxy_server_aliases"),
    ("nginx_proxy", {"nginx_proxy_static_dir": "/var/log/nginx"}, "nginx_proxy_static_dir"),
    ("nginx_proxy", {"nginx_proxy_static_dir": "/usr/share"}, "nginx_proxy_static_dir"),
    # A trailing newline passes no check.
    ("flask_app", {"flask_app_name": "hello\n"}, "flask_app_name"),
    ("gunicorn", {"gunicorn_bind": "127.0.0.1:8000\n"}, "gunicorn_bind"),
    ("nginx_proxy", {"nginx_proxy_server_name": "example.com\n"}, "nginx_proxy_server_name"),
    ("flask_app", {"flask_app_root": "/srv/hello\n"}, "flask_app_root"),
    # Removing: the state is one of two words, and what goes is said plainly.
    ("flask_app", {"flask_app_state": "gone"}, "flask_app_state"),
    ("flask_app", {"flask_app_state": "absent\n"}, "flask_app_state"),
    ("flask_app", {"flask_app_state": "absent", "flask_app_remove_data": "maybe"}, "flask_app_remove_data"),
    ("flask_app", {"flask_app_state": "absent", "flask_app_root": "/srv"}, "flask_app_root"),
    ("gunicorn", {"gunicorn_state": "stopped"}, "gunicorn_state"),
    ("gunicorn", {"gunicorn_state": "absent", "gunicorn_app_name": "nginx"}, "gunicorn_app_name"),
    ("nginx_proxy", {"nginx_proxy_state": "off"}, "nginx_proxy_state"),
    ("nginx_proxy", {"nginx_proxy_state": "absent", "nginx_proxy_site_name": "../default"}, "nginx_proxy_site_name"),
]


def run_role(tmp_path, role, variables, tasks_from="main", then=""):
    """ansible-playbook --check of ROLE's TASKS_FROM on this machine, with
    VARIABLES; THEN, YAML text, adds tasks after it."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - name: Apply the role to this machine, in check mode
          hosts: localhost
          connection: local
          gather_facts: false
          tasks:
            - name: Run the role
              ansible.builtin.include_role:
                name: flaskops.stack.{role}
                tasks_from: {tasks_from}
        """) + textwrap.indent(textwrap.dedent(then), "    "))
    extra = tmp_path / "vars.json"
    # Modules run with this interpreter: no discovery on the test machine.
    extra.write_text(json.dumps({"ansible_python_interpreter": sys.executable, **variables}))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="default")
    return subprocess.run(
        # "primary": another host of the inventory, which the play leaves out.
        ["ansible-playbook", "--check", "-i", "localhost,primary,", "-e", f"@{extra}", str(playbook)],
        capture_output=True, text=True, env=env, timeout=120, cwd=ROOT, check=False,
    )


@pytest.mark.parametrize(
    ("role", "override", "variable"), BAD, ids=[f"{r}-{v}-{i}" for i, (r, _ignored, v) in enumerate(BAD)]
)
def test_bad_input_stops_the_role_naming_the_variable(tmp_path, role, override, variable):
    result = run_role(tmp_path, role, {**VALID[role], **override})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert variable in output, output
    assert "changed=0" in output, output


# Valid settings beyond the minimum, as the playbooks pass them.
ALSO_VALID = [
    ("gunicorn", {"gunicorn_release_dir": "/srv/hello/releases/" + "a" * 40,
                  "gunicorn_environment_file": "/srv/hello/shared/hello.env",
                  "gunicorn_environment_file_staged": "/srv/hello/shared/hello.env.staged"}),
    ("flask_app", {"flask_app_resolved_commit": "a" * 40, "flask_app_runner_switches": True,
                   "flask_app_install_packages": False}),
    # Deprecated, still accepted.
    ("flask_app", {"flask_app_switch": False}),
    ("gunicorn", {"gunicorn_bind": "10.0.0.21:8000", "gunicorn_allowed_clients": ["10.0.0.10", "10.0.1.0/24"]}),
    ("nginx_proxy", {"nginx_proxy_acme": True, "nginx_proxy_acme_agree_tos": True,
                     "nginx_proxy_acme_email": "ops@example.com"}),
    ("flask_app", {"flask_app_static_folder": "src/hello/static"}),
    ("flask_app", {"flask_app_static_folder": ""}),
    ("nginx_proxy", {"nginx_proxy_static_releases": "/var/www/flaskops-static/hello"}),
    # A follower, and a primary naming itself.
    ("nginx_proxy", {**ACME, "nginx_proxy_acme_primary": "primary", "nginx_proxy_acme_primary_address": "10.0.0.10"}),
    ("nginx_proxy", {**ACME, "nginx_proxy_acme_primary": "primary", "nginx_proxy_acme_primary_address": "[fd00::10]"}),
    ("nginx_proxy", {**ACME, "nginx_proxy_acme_primary": "localhost"}),
    # As -e key=value and INI inventories pass them: strings.
    ("nginx_proxy", {"nginx_proxy_acme": "true", "nginx_proxy_acme_agree_tos": "yes",
                     "nginx_proxy_acme_email": "ops@example.com"}),
]


@pytest.mark.parametrize(("role", "extra"), [(r, {}) for r in sorted(VALID)] + ALSO_VALID,
                         ids=[*sorted(VALID), *(f"{r}-more" for r, _ignored in ALSO_VALID)])
def test_valid_input_passes_the_preflight(tmp_path, role, extra):
    result = run_role(tmp_path, role, {**VALID[role], **extra}, tasks_from="preflight")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("given", "switches", "warned"), [
    ({}, True, False),
    ({"flask_app_runner_switches": True}, False, False),
    ({"flask_app_runner_switches": False}, True, False),
    ({"flask_app_switch": False}, False, True),
    ({"flask_app_switch": "yes"}, True, True),
    # The deprecated name wins when a play still sets it.
    ({"flask_app_switch": True, "flask_app_runner_switches": True}, True, True),
])
def test_who_switches_and_the_deprecated_name(tmp_path, given, switches, warned):
    """flask_app_runner_switches decides whether the role switches to the
    release itself; flask_app_switch, its deprecated opposite, still works
    and the run says it is deprecated."""
    result = run_role(tmp_path, "flask_app", {**VALID["flask_app"], **given}, tasks_from="preflight", then="""
        - name: Show the decision
          ansible.builtin.debug:
            msg: "switches={{ __flask_app_switches | bool }}"
        """)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"switches={switches}" in output, output
    assert ("[DEPRECATION] flask_app_switch is deprecated" in output) == warned, output
    if warned:
        assert f"set flask_app_runner_switches to {str(not switches).lower()} instead" in output, output


@pytest.mark.parametrize("password", ["ghp_n0t-a-real-t0ken-but-secret", "p@ss:w0rd@x"])
def test_credentials_in_the_repository_url_are_never_shown(tmp_path, password):
    """A refused run quotes the URL without its user name and password (a
    raw "@" in the password included)."""
    result = run_role(tmp_path, "flask_app", {
        **VALID["flask_app"], "flask_app_repo": f"https://deploy:{password}@git.example.invalid/hello .git"})
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "flask_app_repo" in output, output
    assert "https://git.example.invalid/hello .git" in output, output
    assert password not in output and "deploy:" not in output, output


@pytest.mark.parametrize("password", ["Zq8first\nXk2second", "Wv5tabbed\tYj7ending\n"])
def test_a_refused_basic_auth_password_is_never_shown(tmp_path, password):
    """A password of basic auth that is refused (a line break in it) is
    named by its user, never quoted."""
    result = run_role(tmp_path, "nginx_proxy", {
        **VALID["nginx_proxy"], "nginx_proxy_basic_auth": True,
        "nginx_proxy_basic_auth_users": {"reviewer": password}})
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "nginx_proxy_basic_auth_users" in output and "reviewer" in output, output
    for part in password.split():
        assert part not in output, output


@pytest.mark.parametrize(("given", "variable"), [
    ({}, "flaskops_app"),
    ({"flaskops_app": "other"}, "flaskops_app"),
    ({"flaskops_app": "hello\n"}, "flaskops_app"),
    ({"flaskops_app": "hello", "flask_app_remove_data": "maybe"}, "flask_app_remove_data"),
], ids=["missing", "another-app", "newline", "remove-data"])
def test_remove_needs_the_application_named(tmp_path, given, variable):
    """playbooks/remove.yml removes nothing unless flaskops_app names the
    inventory's application, and it says which setting is wrong."""
    rc, output = check_playbook(tmp_path, "remove.yml", {"app": {"flask_app_name": "hello"}}, given)
    assert rc != 0, output
    assert variable in output and "Nothing was removed." in output, output
    assert "Take the site out" not in output and "Remove its service" not in output, output
