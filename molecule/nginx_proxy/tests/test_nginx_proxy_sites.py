"""Several sites on one host, each with its own settings, and faults.

On the converged host: the converge applied three sites: example.test
(10m bodies, gzip), secure.test (HTTPS, 2m bodies, no gzip) and other.test
on port 8081; the idempotence step proved they converge to no change.
"""

import json
import os
import time
import uuid
from pathlib import Path

from conftest import main_pid

SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
CONVERGE = SCENARIO / "converge.yml"
CURL_TLS = "--cacert /usr/local/share/flaskops-test-ca.crt --resolve secure.test:443:127.0.0.1"
MANAGED = ["/etc/nginx/nginx.conf", "/etc/nginx/sites-available/example.test.conf",
           "/etc/nginx/sites-available/secure.test.conf", "/etc/nginx/sites-available/other.test.conf",
           "/etc/nginx/conf.d/flaskops-catchall-80.conf", "/etc/nginx/conf.d/flaskops-catchall-8081.conf",
           "/etc/nginx/conf.d/flaskops-catchall-tls-443.conf"]


def backend_saw(host, path):
    log = host.check_output("journalctl --unit echo-backend.service --no-pager --output cat")
    return f"request {path}" in log


def post(host, url, host_header, size, *options):
    """POST SIZE bytes: (HTTP status, body)."""
    result = host.run(
        f"head -c {size} /dev/zero | curl --silent --max-time 20 --output /tmp/post.out "
        f"--write-out '%{{http_code}}' --header 'Host: {host_header}' "
        f"--header 'Content-Type: application/octet-stream' --data-binary @- {' '.join(options)} '{url}'")
    return int(result.stdout or 0), host.file("/tmp/post.out").content_string


def test_each_site_keeps_its_own_body_limit(host):
    path = f"/upload-{uuid.uuid4().hex}"
    status, body = post(host, f"http://127.0.0.1{path}", "example.test", 5 * 1024 * 1024)
    assert status == 200 and json.loads(body)["received"] == 5 * 1024 * 1024
    # Over secure.test's 2m: refused by nginx, never seen by the application.
    refused = f"/upload-{uuid.uuid4().hex}"
    status, _ignored = post(host, f"https://secure.test{refused}", "secure.test", 3 * 1024 * 1024, CURL_TLS)
    assert status == 413
    assert backend_saw(host, path) and not backend_saw(host, refused)


def test_each_site_keeps_its_own_compression(host):
    def encoding(url, name, *options):
        return host.check_output(
            f"curl --silent --output /dev/null --dump-header - --header 'Host: {name}' "
            f"--header 'Accept-Encoding: gzip' {' '.join(options)} '{url}' | tr -d '\\r' "
            "| sed -n 's/^[Cc]ontent-[Ee]ncoding: //p'")
    assert encoding(f"http://127.0.0.1/{'x' * 400}", "example.test") == "gzip"
    assert encoding(f"https://secure.test/{'x' * 400}", "secure.test", CURL_TLS) == ""


def test_the_shared_main_configuration_holds_no_site_setting(host):
    main = host.file("/etc/nginx/nginx.conf").content_string
    assert "client_max_body_size 1m;" in main and "gzip" not in main
    assert "client_max_body_size 2m;" in host.file("/etc/nginx/sites-available/secure.test.conf").content_string
    assert "client_body_timeout 12s;" in host.file("/etc/nginx/sites-available/other.test.conf").content_string


def test_a_site_on_another_port_has_a_catch_all_of_its_own(host, http_get):
    assert http_get("http://127.0.0.1:8081/", "other.test").status == 200
    for port in (80, 8081):
        path = f"/unknown-{uuid.uuid4().hex}"
        assert http_get(f"http://127.0.0.1:{port}{path}", "attacker.invalid").rc == 52
        assert not backend_saw(host, path)
    assert not host.file("/etc/nginx/conf.d/flaskops-catchall.conf").exists


SLOW_CLIENT = """
import json, socket, sys, time
port, request = int(sys.argv[1]), sys.argv[2].encode().decode("unicode_escape").encode()
client = socket.create_connection(("127.0.0.1", port))
started = time.monotonic()
client.sendall(request)
client.settimeout(60)
answer = b""
try:
    while chunk := client.recv(4096):
        answer += chunk
except OSError:
    pass
print(json.dumps({"seconds": round(time.monotonic() - started, 1), "answer": answer[:12].decode()}))
"""


def test_slow_clients_are_cut_off_by_the_header_and_body_timeouts(fleet, record):
    """A client that never finishes its headers (the catch-all's 15 s), or
    its body (other.test's 12 s): nginx ends both, the app sees neither."""
    path = f"/slow-body-{uuid.uuid4().hex}"
    slow = {"header": (80, "GET / HTTP/1.1\\r\\nHost: example.test\\r\\n"),
            "body": (8081, f"POST {path} HTTP/1.1\\r\\nHost: other.test\\r\\nContent-Length: 1000\\r\\n\\r\\n0123456789")}
    for host in fleet.values():
        host.run_expect([0], f"cat > /tmp/slow_client.py <<'EOF'\n{SLOW_CLIENT}\nEOF")
        for kind, (port, request) in slow.items():
            host.run(f"nohup python3 /tmp/slow_client.py {port} '{request}' > /tmp/slow-{kind}.json 2>&1 &")
    time.sleep(17)
    for name, host in fleet.items():
        for kind, limit in (("header", 15), ("body", 12)):
            result = json.loads(host.check_output(f"cat /tmp/slow-{kind}.json"))
            record(f"slow client ({kind} never finished): seconds until nginx ended it", name,
                   seconds=result["seconds"])
            assert limit - 1 <= result["seconds"] <= limit + 2, result
        assert not backend_saw(host, path)


def test_path_traversal_under_the_static_location_never_leaves_it(fleet):
    """The static folder's parent holds code: no spelling of .. reaches it.
    Positive control: the same file inside the static folder is served, so
    a request that reaches it would show it."""
    secret = f"code-{uuid.uuid4().hex}"
    for host in fleet.values():
        host.run_expect([0], f"echo {secret} > /srv/secure/current/app.py")
        host.run_expect([0], f"echo {secret} > /srv/secure/current/static/app.py")
    try:
        for host in fleet.values():
            served = host.run(f"curl --silent --max-time 5 {CURL_TLS} 'https://secure.test/static/app.py'").stdout
            assert secret in served, "the static copy is served: the check below can see a leak"
    finally:
        for host in fleet.values():
            host.run("rm -f /srv/secure/current/static/app.py")
    paths = ["/static/../app.py", "/static/..%2fapp.py", "/static/%2e%2e/app.py", "/static/%2e%2e%2fapp.py",
             "/static..%2fapp.py", "/static/..%252fapp.py", "/static//../app.py", "/static/sub/../../app.py",
             "/static/%2e%2e%5capp.py", "/static/.%2e/app.py"]
    try:
        for host in fleet.values():
            for path in paths:
                body = host.run(f"curl --silent --path-as-is --max-time 5 {CURL_TLS} "
                                f"'https://secure.test{path}'").stdout
                assert secret not in body, path
    finally:
        for host in fleet.values():
            host.run("rm -f /srv/secure/current/app.py")


def test_nginx_killed_is_started_again(fleet, recovery_time, record):
    for name, host in fleet.items():
        master = main_pid(host, "nginx.service")
        host.run_expect([0], f"kill -KILL {master}")
        seconds = recovery_time(host, "curl --silent --fail --max-time 1 --header 'Host: example.test' "
                                      "--output /dev/null http://127.0.0.1/")
        record("nginx master killed (SIGKILL): seconds until it answers again", name, seconds=seconds)
        assert main_pid(host, "nginx.service") != master
        assert host.check_output("systemctl is-active nginx") == "active"


def test_a_static_folder_holding_code_is_refused(fleet, run_playbook_on_fleet):
    before = {name: {path: host.file(path).sha256sum for path in MANAGED} for name, host in fleet.items()}
    for host in fleet.values():
        host.run_expect([0], "touch /srv/secure/current/pyproject.toml")
    try:
        run = run_playbook_on_fleet(CONVERGE, "-e", json.dumps({"nginx_proxy_static_dir": "/srv/secure/current"}))
    finally:
        for host in fleet.values():
            host.run("rm -f /srv/secure/current/pyproject.toml")
    assert run.rc != 0
    assert 'nginx_proxy_static_dir "/srv/secure/current"' in run.output, run.output[-2000:]
    assert "holds pyproject.toml: it is a code folder" in run.output
    assert set(run.changed.values()) == {0}, run.output[-2000:]
    for name, host in fleet.items():
        assert {path: host.file(path).sha256sum for path in MANAGED} == before[name]


def test_keeping_the_distribution_default_site_works(fleet, run_playbook_on_fleet):
    for host in fleet.values():
        host.run_expect([0], "ln -sfn /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default")
    run = run_playbook_on_fleet(SCENARIO / "keep-default.yml")
    assert run.rc == 0, run.output[-3000:]
    for host in fleet.values():
        assert host.run("nginx -t").rc == 0
        assert host.file("/etc/nginx/sites-enabled/default").exists
        # The default site answers unknown names on its port, as kept;
        # the site still answers its own.
        assert host.run("curl --silent --fail --output /dev/null --header 'Host: unknown.invalid' "
                        "http://127.0.0.1/").rc == 0
        assert host.run("curl --silent --fail --output /dev/null --header 'Host: example.test' "
                        "http://127.0.0.1/").rc == 0

    again = run_playbook_on_fleet(CONVERGE)
    assert again.rc == 0, again.output[-3000:]
    for host in fleet.values():
        assert not host.file("/etc/nginx/sites-enabled/default").exists
        assert host.run("curl --silent --max-time 2 --header 'Host: unknown.invalid' http://127.0.0.1/").rc == 52


def backend_count(host, path, method):
    log = host.check_output("journalctl --unit echo-backend.service --no-pager --output cat")
    return log.count(f"request {path} {method}")


def request(host, method, path, port=80, site="example.test", max_time=20):
    """(HTTP status, seconds) of one request through nginx."""
    result = host.run(f"curl --silent --output /dev/null --max-time {max_time} --request {method} "
                      f"--write-out '%{{http_code}} %{{time_total}}' --header 'Host: {site}' "
                      f"{'--data x ' if method == 'POST' else ''}'http://127.0.0.1:{port}{path}'")
    status, seconds = result.stdout.split()
    return int(status), float(seconds)


def test_an_idempotent_request_answered_502_or_503_is_tried_once_more_a_post_never(fleet):
    """With one application server, nginx tries it again as its backup (another
    of its workers): a GET twice, bounded; a POST once, whatever it got."""
    for host in fleet.values():
        for code in (502, 503):
            get_path, post_path = f"/status/{code}/get-{uuid.uuid4().hex}", f"/status/{code}/post-{uuid.uuid4().hex}"
            assert request(host, "GET", get_path)[0] == code
            assert request(host, "POST", post_path)[0] == code
            assert backend_count(host, get_path, "GET") == 2, "tried once more, no more"
            assert backend_count(host, post_path, "POST") == 1, "a POST is never sent twice"


def test_a_request_slower_than_the_read_timeout_is_answered_504_and_never_run_twice(fleet):
    """other.test waits 6 s for an answer (nginx_proxy_read_timeout) and retries
    only within 3 s (nginx_proxy_next_upstream_timeout): a request that timed
    out is not sent again, GET or POST."""
    for host in fleet.values():
        for method in ("GET", "POST"):
            path = f"/slow/9/{method.lower()}-{uuid.uuid4().hex}"
            status, seconds = request(host, method, path, port=8081, site="other.test")
            assert status == 504
            assert 5.5 <= seconds <= 8, seconds
            time.sleep(4)  # the application finishes the request it was given
            assert backend_count(host, path, method) == 1, f"{method} sent once"


def test_past_its_limit_a_site_answers_503_with_retry_after_never_a_failure(fleet, record):
    """other.test handles four requests at once (nginx_proxy_max_concurrent_requests):
    forty slow ones at the same moment get four answers, and 36 clear 503s
    that say when to come back; nothing is reset or dropped, and nginx logs it."""
    script = (Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "molecule" / "resources" / "crowd.py").read_text()
    for name, host in fleet.items():
        out = host.check_output(f"python3 - http://127.0.0.1:8081/slow/2/crowd other.test 40 <<'PY'\n{script}\nPY")
        found = json.loads(out)
        record("40 clients at once on a site limited to 4 requests: answers by status", name,
               **{f"status_{code}": count for code, count in found["statuses"].items()}, failed=found["failed"])
        assert found["failed"] == 0, found
        assert set(found["statuses"]) == {"200", "503"}, found
        assert found["statuses"]["200"] >= 4, found
        assert found["retry_after"] == {"5": found["statuses"]["503"]}, found
        assert "limiting connections by zone" in host.check_output("tail -n 100 /var/log/nginx/error.log")
