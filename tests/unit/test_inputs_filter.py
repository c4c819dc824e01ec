"""flaskops.stack.input_errors: the one validation layer, type by type.

Every type refuses a value with a trailing newline (Python's ``$`` would let
it through), addresses are parsed (every spelling of the unspecified
address is public), networks covering everything count as ``*``, and
domain names are compared without case.
"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("inputs", ROOT / "plugins" / "filter" / "inputs.py")
inputs = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(inputs)


def errors(kind, value, **options):
    return inputs.input_errors([["the_variable", value, kind, options]])


def ok(kind, value, **options):
    found = errors(kind, value, **options)
    assert found == [], found


def refused(kind, value, **options):
    found = errors(kind, value, **options)
    assert len(found) == 1, (kind, value, found)
    assert found[0].startswith("the_variable "), found
    return found[0]


# One valid value of each type, and the same value with a trailing newline.
VALID = [
    ("name", "hello"), ("account", "hello"), ("domain", "example.com"), ("path", "/srv/hello"),
    ("relative_path", "requirements/prod.txt"), ("filename", "example.com"), ("url_path", "/healthz"),
    ("bind", "127.0.0.1:8000"), ("address", "10.0.0.1"), ("network", "10.0.0.0/24"),
    ("line", "some text"), ("command", "flask db upgrade"), ("requirement", "gunicorn==23.0.0"),
    ("git_ref", "v1.2.3"), ("commit", "a" * 40), ("repo", "https://example.com/x.git"),
    ("wsgi", "hello:create_app()"), ("env_name", "SECRET_KEY"), ("header_name", "X-Frame-Options"),
    ("header_value", "DENY"), ("email", "ops@example.com"), ("https_url", "https://acme.test/dir"),
    ("size", "10m"), ("expires", "7d"),
]


@pytest.mark.parametrize(("kind", "value"), VALID, ids=[kind for kind, _ignored in VALID])
def test_each_type_accepts_a_valid_value(kind, value):
    ok(kind, value)


@pytest.mark.parametrize(("kind", "value"), VALID, ids=[kind for kind, _ignored in VALID])
def test_each_type_refuses_the_same_value_with_a_trailing_newline(kind, value):
    message = refused(kind, value + "\n")
    assert "\\n" in message or "line" in message or "must" in message


@pytest.mark.parametrize("kind", ["port", "count"])
def test_numbers_refuse_a_trailing_newline_too(kind):
    ok(kind, "8000")
    refused(kind, "8000\n")


@pytest.mark.parametrize("value", ["0.0.0.0:8000", "[::]:8000", "[::0]:8000", "[0::]:8000",
                                   "[0:0:0:0:0:0:0:0]:8000", "[::ffff:0.0.0.0]:8000",
                                   "[0000:0000::0000]:8000"])
def test_every_spelling_of_the_unspecified_address_is_public(value):
    assert inputs.safe_bind_info(value)["scope"] == "public"
    assert "every interface" in refused("bind", value)
    ok("bind", value, public=True)


@pytest.mark.parametrize(("value", "scope", "family"), [
    ("127.0.0.1:8000", "loopback", 4), ("[::1]:8000", "loopback", 6), ("127.5.0.1:80", "loopback", 4),
    ("[0:0:0:0:0:0:0:1]:8000", "loopback", 6), ("10.0.0.21:8000", "private", 4),
    ("[fd00::21]:8000", "private", 6), ("unix:/run/hello/hello.sock", "local", 0),
])
def test_binds_are_parsed_not_compared_as_text(value, scope, family):
    info = inputs.safe_bind_info(value)
    assert (info["scope"], info["family"]) == (scope, family)
    ok("bind", value)


@pytest.mark.parametrize("value", [":", ":8000", "[]:8000", "localhost:8000", "127.0.0.1:70000",
                                   "127.0.0.1:0", "127.0.0.1", "::1:8000", "[10.0.0.1]:8000",
                                   "999.0.0.1:80", "unix:relative.sock", "unix:/tmp/x.sock",
                                   "unix:/run/../etc/x.sock", "127.0.0.1:8000 ", "[fe80::1%eth0]:80"])
def test_malformed_binds_are_refused(value):
    refused("bind", value)


@pytest.mark.parametrize("value", ["static/.env", "app/.venv/lib", "a/./b/.hidden", "static/.git"])
def test_a_relative_path_may_refuse_hidden_folders(value):
    assert "hidden folder" in refused("relative_path", value, dotted="refuse")
    ok("relative_path", value)


@pytest.mark.parametrize("value", ["0.0.0.0", "::", "[::]", "::0", "0:0:0:0:0:0:0:0", "::ffff:0.0.0.0",
                                   "0000::0000", "224.0.0.1", "ff02::1"])
def test_an_address_to_connect_to_is_one_host_in_every_spelling(value):
    assert "every-address" in refused("address", value, connect=True)
    ok("address", value)


@pytest.mark.parametrize("value", ["10.0.0.10", "[fd00::10]", "fd00::10", "127.0.0.1", "::1"])
def test_an_address_of_one_host_may_be_connected_to(value):
    ok("address", value, connect=True)


@pytest.mark.parametrize("value", ["*", "0.0.0.0/0", "::/0", "0::/0", "0.0.0.0/0.0.0.0", "10.0.0.0/0"])
def test_networks_that_cover_everything_count_as_a_star(value):
    assert "every address" in refused("network", value)
    ok("network", value, everything=True)


@pytest.mark.parametrize("value", [":", "", "10.0.0.1;", "10.0.0.1 ", "10.0.0.1/33", "fe80::/129",
                                   "10.0.0.0/24; accept", "abc"])
def test_malformed_addresses_and_networks_are_refused(value):
    refused("network", value)


def test_a_network_of_the_other_family_is_refused_when_the_family_is_given():
    ok("network", "10.0.0.10", family=4)
    assert "IPv6" in refused("network", "10.0.0.10", family=6)
    ok("network", "fd00::10/64", family=6)


@pytest.mark.parametrize("value", ["nginx", "certbot", "nftables", "ssh", "cron", "systemd", "dbus"])
def test_names_of_units_the_system_or_the_collection_has_are_refused(value):
    assert "unit" in refused("name", value)


@pytest.mark.parametrize("value", ["Hello", "hello-world", "1hello", "", "a" * 27, "hello\n", "héllo"])
def test_names_are_lowercase_words(value):
    refused("name", value)


@pytest.mark.parametrize("value", ["shadow", "docker", "adm", "sudo", "disk", "root", "systemd-journal"])
def test_privileged_groups_are_refused(value):
    refused("account", value, privileged=True)


def test_domains_are_compared_without_case():
    assert inputs.same_domain("Example.COM", "example.com")
    assert inputs.same_domain("example.com.", "EXAMPLE.com")
    assert not inputs.same_domain("example.com", "www.example.com")
    message = refused("list", ["old.example.com", "EXAMPLE.com"], elements="domain",
                      distinct_from=["example.com", "www.example.com"])
    assert "without case" in message
    assert "twice" in refused("list", ["a.example.com", "A.Example.com"], elements="domain", unique=True)
    ok("list", ["old.example.com", "other.example"], elements="domain", unique=True,
       distinct_from=["example.com", "www.example.com"])


@pytest.mark.parametrize("value", ["www.example.com", "WWW.example.com"])
def test_a_www_server_name_is_refused(value):
    refused("domain", value, no_www=True)


@pytest.mark.parametrize("value", ["example.com;", "exa mple.com", "example.com}", "-example.com",
                                   "example..com", "a" * 64 + ".com"])
def test_malformed_domains_are_refused(value):
    refused("domain", value)


@pytest.mark.parametrize("value", ["/", "/etc", "/etc/hello", "/usr", "/usr/share", "/var", "/var/lib",
                                   "/var/log", "/srv", "/opt", "/var/www", "/proc/1", "/boot/x"])
def test_system_folders_are_refused_where_a_folder_of_its_own_is_needed(value):
    refused("path", value, system="refuse")


@pytest.mark.parametrize("value", ["/srv/hello", "/var/lib/hello", "/opt/hello", "/usr/local/hello",
                                   "/var/www/hello", "/var/log/hello"])
def test_folders_of_their_own_pass(value):
    ok("path", value, system="refuse")


@pytest.mark.parametrize("value", ["srv/hello", "/srv/./hello", "/srv/../etc", "/srv//hello",
                                   "/srv/hello world", "/srv/hello;", "/srv/hello\n"])
def test_malformed_paths_are_refused(value):
    refused("path", value)


@pytest.mark.parametrize("value", ["/tmp/x", "/home/deploy", "/root", "/run/user/0", "/var/tmp/a",
                                   "/dev/shm/x"])
def test_paths_the_sandbox_hides_are_refused(value):
    refused("path", value, hidden="refuse")


@pytest.mark.parametrize("value", ["-r/etc/shadow", "--index-url=https://evil.example/simple", "-e .",
                                   "gunicorn @ https://evil.example/g.whl", "./local.whl", "/etc/shadow",
                                   "gunicorn==23.0.0\n", "gunicorn ==23; --x", "a b c"])
def test_extra_packages_are_requirement_specifiers_only(value):
    refused("requirement", value)


@pytest.mark.parametrize("value", ["gunicorn==23.0.0", "gunicorn", "sentry-sdk[flask]>=2,<3",
                                   "uvicorn[standard]~=0.30", 'pywin32; sys_platform == "win32"'])
def test_requirement_specifiers_pass(value):
    ok("requirement", value)


@pytest.mark.parametrize("value", [
    {"ExecCondition": "/bin/true"}, {"SupplementaryGroups": "shadow"}, {"PassEnvironment": "PATH"},
    {"LoadCredential": "x:/etc/shadow"}, {"RootDirectory": "/"}, {"User": "root"}, {"ExecStartPre": "/bin/sh"},
    {"MemoryMax": "1G\nExecStartPre=/bin/sh"}, {"MemoryMax": "lots"}, {"TimeoutStopSec": "30s;"},
    {"NoNewPrivileges": "no"}, ["MemoryMax", "1G"], {"IPAddressAllow": "any; rm"},
])
def test_service_overrides_are_an_allow_list_of_resources_and_timeouts(value):
    refused("service_overrides", value)


def test_service_overrides_of_resources_and_timeouts_pass():
    ok("service_overrides", {"MemoryMax": "512M", "MemoryHigh": "80%", "CPUQuota": "150%", "TasksMax": 64,
                             "LimitNOFILE": "65536", "TimeoutStopSec": "1min 30s", "Nice": 5,
                             "MemoryDenyWriteExecute": "no", "OOMScoreAdjust": -100,
                             "IPAddressDeny": "any", "IPAddressAllow": "localhost 10.0.0.0/8"})


@pytest.mark.parametrize(("kind", "value", "options"), [
    ("count", 0, {}), ("count", -1, {}), ("count", True, {}), ("count", "many", {}),
    ("count", "5", {"maximum": 4}), ("port", 0, {}), ("port", 65536, {}), ("port", "80;", {}),
    ("bool", "maybe", {}), ("bool", 2, {}), ("choice", "dsa", {"choices": ["ecdsa", "rsa"]}),
])
def test_numbers_switches_and_choices(kind, value, options):
    refused(kind, value, **options)


def test_counts_accept_strings_of_digits_as_inventories_give_them():
    ok("count", "3")
    ok("count", 0, minimum=0)
    ok("bool", "yes")
    ok("bool", False)


@pytest.mark.parametrize(("kind", "value"), [
    ("command", "flask db upgrade\nrm -rf /"), ("command", "   "), ("command", "echo 'unclosed"),
    ("git_ref", "--upload-pack=touch /tmp/x"), ("git_ref", "main\n"), ("git_ref", "a..b"),
    ("wsgi", "hello:app; rm -rf /"), ("wsgi", "hello:app()\n"), ("env_name", "BAD KEY"),
    ("header_value", 'DENY" always; add_header X "'), ("header_value", "a$b"), ("email", "ops@example"),
    ("https_url", "http://acme.test/"), ("size", "10m;"), ("expires", "7d; return 200"),
    ("repo", "--upload-pack=x"), ("commit", "main"),
])
def test_free_text_types_refuse_syntax_and_newlines(kind, value):
    refused(kind, value)


def test_a_secret_value_is_never_quoted():
    message = inputs.input_errors([["flask_app_repo_token", "two words s3cr3t", "line",
                                    {"secret": True, "spaces": False}]])
    assert message and "s3cr3t" not in message[0]
    message = inputs.input_errors([["flask_app_secret_env", {"KEY": "s3cr3t\nx"}, "dict",
                                    {"keys": "env_name", "values": "line", "value_options": {"secret": True}}]])
    assert message and "s3cr3t" not in message[0] and "KEY" in message[0]


def test_lists_and_maps_name_the_entry_that_is_wrong():
    message = refused("list", ["10.0.0.1", "10.0.0.0/24; accept"], elements="network")
    assert "entry 2" in message
    assert "must not be empty" in refused("list", [], elements="network", min_length=1)
    assert "BAD KEY" in refused("dict", {"BAD KEY": "x"}, keys="env_name")
    assert "must be a list" in refused("list", "10.0.0.1", elements="network")


def test_several_variables_give_one_message_each_and_skip_works():
    found = inputs.input_errors([
        ["a", "Bad", "name"], ["b", "good", "name"], ["c", 0, "count"], ["d", "x", "count", {"skip": True}],
    ])
    assert [message.split()[0] for message in found] == ["a", "c"]


def test_network_family_reads_addresses_and_networks():
    assert inputs.network_family("10.0.0.1") == 4
    assert inputs.network_family("fd00::/8") == 6
    assert inputs.network_family(":") == 0


@pytest.mark.parametrize("value", ["/var/log/nginx", "/var/lib/hello/static", "/var/cache/x"])
def test_static_folders_refuse_where_programs_keep_data(value):
    refused("path", value, system="refuse", data="refuse")
    ok("path", value, system="refuse")
