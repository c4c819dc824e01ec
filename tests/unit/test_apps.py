"""Several applications from one inventory (flaskops_apps): what each entry
becomes, and what the run refuses before any change.

The entries are checked by the collection's one validation plugin (type
``apps`` of input_errors) and turned into role variables by its
``app_settings`` filter; playbooks/tasks/app_step.yml hands those to one
step of one application.
"""

import pytest
import yaml
from collection_files import ROOT, check_playbook, load

inputs = load("inputs", "plugins/filter/inputs.py")

HELLO = {"name": "hello", "repo": "https://example.invalid/hello.git", "server_name": "hello.test"}
SHOP = {"name": "shop", "repo": "https://example.invalid/shop.git", "server_name": "shop.test"}


def apps_errors(apps, host=None, colocated=True, public=False):
    return inputs.input_errors([["flaskops_apps", apps, "apps",
                                 {"host": host or {}, "colocated": colocated, "public": public}]])


def refused(apps, **options):
    found = apps_errors(apps, **options)
    assert len(found) == 1 and found[0].startswith("flaskops_apps "), found
    return found[0]


def test_two_applications_on_one_host_get_a_socket_each():
    assert apps_errors([HELLO, SHOP]) == []
    hostvars = {"web1": {"flaskops_apps": [HELLO, SHOP]}}
    groups = {"app": ["web1"], "web": ["web1"]}
    found = inputs.app_settings([HELLO, SHOP], hostvars, groups, "web1")
    assert [app["gunicorn_bind"] for app in found] == ["unix:/run/gunicorn-hello.sock", "unix:/run/gunicorn-shop.sock"]
    assert [app["nginx_proxy_upstreams"] for app in found] == [
        ["unix:/run/gunicorn-hello.sock"], ["unix:/run/gunicorn-shop.sock"]]
    assert [app["flask_app_root"] for app in found] == ["/srv/hello", "/srv/shop"]
    assert inputs.app_settings([HELLO, SHOP], hostvars, groups, "web1", "shop")[0]["flask_app_name"] == "shop"


def test_on_a_fleet_the_proxies_list_each_application_on_every_server():
    apps = {server: [dict(HELLO, bind=f"{address}:8000"), dict(SHOP, bind=f"{address}:8001")]
            for server, address in (("app1", "10.0.0.21"), ("app2", "10.0.0.22"))}
    hostvars = {"proxy": {"flaskops_apps": apps["app1"]}, "app1": {"flaskops_apps": apps["app1"]},
                "app2": {"flaskops_apps": apps["app2"]}}
    groups = {"app": ["app1", "app2"], "web": ["proxy"]}
    found = inputs.app_settings(apps["app1"], hostvars, groups, "proxy")
    assert found[1]["nginx_proxy_upstreams"] == ["10.0.0.21:8001", "10.0.0.22:8001"]
    assert inputs.app_settings(apps["app2"], hostvars, groups, "app2")[0]["gunicorn_bind"] == "10.0.0.22:8000"


def test_shared_settings_fall_back_to_the_inventory_and_own_ones_do_not():
    host = {"flask_app_repo": "https://example.invalid/mono.git", "flask_app_env": {"A": "1"},
            "flask_app_secret_env": {"SECRET_KEY": "s"}, "flask_app_root": "/srv/hello",
            "nginx_proxy_static_dir": "/srv/hello/current/static", "nginx_proxy_server_aliases": ["old.test"],
            "gunicorn_bind": "127.0.0.1:8000"}
    entry = {"name": "shop", "server_name": "shop.test", "env": {"B": "2"}}
    found = inputs.app_vars(entry, host, colocated=False)
    assert found["flask_app_repo"] == host["flask_app_repo"] and found["flask_app_secret_env"] == {"SECRET_KEY": "s"}
    assert found["flask_app_env"] == {"B": "2"}, "an entry's env replaces the inventory's"
    assert found["flask_app_root"] == "/srv/shop" and found["nginx_proxy_static_dir"] == ""
    assert found["nginx_proxy_server_aliases"] == [] and found["gunicorn_bind"] == "127.0.0.1:8000"
    assert found["flask_app_version"] == "main" and found["flask_app_processes"] == {}


def test_the_fallbacks_are_the_roles_defaults():
    defaults = {}
    for role in ("flask_app", "gunicorn", "nginx_proxy"):
        defaults.update(yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()))
    for variable, default in inputs.APP_SHARED.values():
        if default is not None:
            assert defaults[variable] == default, variable
    assert defaults["gunicorn_bind"] == inputs.DEFAULT_BIND
    assert defaults["flask_app_root"] == "/srv/{{ flask_app_name }}"
    assert defaults["nginx_proxy_server_aliases"] == [] and defaults["nginx_proxy_static_dir"] == ""


def test_each_step_gets_every_variable_an_entry_sets():
    step = yaml.safe_load((ROOT / "playbooks" / "tasks" / "app_step.yml").read_text())
    given = set(step[0]["vars"]) - {"flask_app_resolved_commit"}
    mapped = {variable for variable, _default in inputs.APP_SHARED.values()} | set(inputs.APP_OWN.values())
    assert given == mapped
    assert set(inputs.APP_FIELDS) == set(inputs.APP_SHARED) | set(inputs.APP_OWN)
    found = inputs.app_vars(HELLO, {}, colocated=True)
    assert set(found) == mapped


@pytest.mark.parametrize(("apps", "options", "expected"), [
    ("hello", {}, "must be a list of applications"),
    ([], {}, "must list at least one application"),
    ([dict(HELLO, colour="blue")], {}, "entry 1 (hello) has colour, which is not one of"),
    ([dict(HELLO, name="hello\n")], {}, "entry 1 has a name \"hello\\n\" that must be a name"),
    ([dict(HELLO, server_name="hello.test\n")], {}, "has a server_name"),
    ([{"name": "hello", "server_name": "hello.test"}], {}, "entry 1 (hello) needs repo"),
    ([{"name": "hello", "repo": "r"}], {}, "entry 1 (hello) needs server_name"),
    ([HELLO, dict(SHOP, name="hello")], {}, "entry 2 (hello) shares its name with entry 1 (hello)"),
    ([HELLO, dict(SHOP, server_name="Hello.TEST")], {}, "entry 2 (shop) shares the domain hello.test"),
    ([HELLO, dict(SHOP, server_name="www.hello.test")], {}, "must be the bare domain"),
    ([HELLO, dict(SHOP, aliases=["WWW.hello.test"])], {}, "entry 2 (shop) shares the domain www.hello.test"),
    ([HELLO, dict(SHOP, root="/srv/hello/shop")], {}, "entry 2 (shop) shares its root (/srv/hello/shop and /srv/hello)"),
    ([dict(HELLO, root="/srv/apps/hello"), dict(SHOP, root="/srv/apps")], {}, "shares its root"),
    ([dict(HELLO, bind="127.0.0.1:8001"), dict(SHOP, bind="127.0.0.1:8001")], {}, "shares its bind"),
    ([dict(HELLO, bind="unix:/run/app.sock"), dict(SHOP, bind="unix:/run/app.sock")], {}, "shares its bind"),
    ([dict(HELLO, bind="10.0.0.21:8001"), dict(SHOP, bind="0.0.0.0:8001")], {"public": True}, "shares its bind"),
    ([dict(HELLO, bind="[fd00::21]:8001"), dict(SHOP, bind="[::]:8001")], {"public": True}, "shares its bind"),
    ([HELLO, SHOP], {"colocated": False}, "shares its bind (127.0.0.1:8000 and 127.0.0.1:8000)"),
    ([dict(HELLO, bind="[::]:8001")], {}, "listens on every interface"),
    ([dict(HELLO, bind="0:8001")], {}, "must be an IP address and port"),
    ([dict(HELLO, root="/etc/hello")], {}, "has a root"),
    ([dict(HELLO, env={"BAD KEY": "x"})], {}, "has a env"),
    ([dict(HELLO, version="--upload-pack=x")], {}, "has a version"),
], ids=["not-a-list", "empty", "unknown-key", "newline-name", "newline-domain", "no-repo", "no-domain",
        "same-name", "same-domain-case", "www-domain", "alias-www", "nested-root", "root-around", "same-port",
        "same-socket", "port-on-every-address", "port-on-every-ipv6-address", "default-port-twice",
        "ipv6-unspecified", "short-zero-address", "system-root", "env-key", "version-option"])
def test_bad_applications_are_refused_naming_the_entry(apps, options, expected):
    assert expected in refused(apps, **options)


def test_different_addresses_on_one_port_and_distinct_sockets_are_fine():
    assert apps_errors([dict(HELLO, bind="10.0.0.21:8001"), dict(SHOP, bind="127.0.0.1:8001")]) == []
    assert apps_errors([dict(HELLO, bind="127.0.0.1:8001"), dict(SHOP, bind="[::1]:8001")]) == []


def test_a_secret_is_never_quoted():
    found = refused([dict(HELLO, secret_env={"BAD KEY": "s3cr3t-value"})])
    assert "secret_env" in found and "s3cr3t-value" not in found


@pytest.mark.parametrize(("given", "expected"), [
    ({"flaskops_apps": [HELLO, dict(SHOP, server_name="HELLO.test")]}, "shares the domain hello.test"),
    ({"flaskops_apps": [HELLO, SHOP], "flaskops_app": "nothing"}, "flaskops_app must be one of hello, shop"),
    ({"flaskops_apps": [HELLO, SHOP], "flaskops_app": "shop\n"}, "flaskops_app must be one of hello, shop"),
    ({"flaskops_apps": {"hello": HELLO}}, "flaskops_apps must be a list of applications"),
], ids=["shared-domain", "unknown-app", "newline-app", "a-map"])
def test_site_refuses_before_any_change(tmp_path, given, expected):
    """site.yml stops in its first play, before any role runs, naming the
    setting (in check mode, so a missed check could change nothing)."""
    rc, output = check_playbook(tmp_path, "site.yml", {"app": {}, "web": {}}, given)
    assert rc != 0, output
    assert expected in output and "Nothing was changed." in output, output
    after_the_check = output.split("Check the applications of the run", 1)[1]
    assert "TASK [flaskops.stack." not in after_the_check.replace("TASK [flaskops.stack.common : Validating", ""), output


@pytest.mark.parametrize("playbook", ["site.yml", "deploy.yml", "run.yml", "lock.yml", "remove.yml"])
@pytest.mark.parametrize(("given", "expected"), [
    ({"flaskops_apps": [HELLO, SHOP], "flaskops_app": "nothing"}, "flaskops_app must be one of hello, shop"),
    ({"flask_app_name": "hello", "flaskops_app": "nothing"}, "flaskops_app must be one of hello"),
], ids=["several", "one"])
def test_every_playbook_refuses_an_application_the_inventory_does_not_have(tmp_path, playbook, given, expected):
    """-e flaskops_app is checked one way (vars/apps.yml) by every playbook
    that takes it: a name the inventory does not have stops the run in
    its first play, naming the choices."""
    rc, output = check_playbook(tmp_path, playbook, {"app": {}, "web": {}}, given)
    assert rc != 0, output
    assert expected in output, output
    assert "TASK [flaskops.stack.flask_app" not in output and "TASK [flaskops.stack.nginx_proxy" not in output, output
