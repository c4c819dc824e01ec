"""The escape hatch: a site's own directives and locations
(nginx_proxy_server_directives, nginx_proxy_locations), through real
requests to the converged example.test site, and a directive nginx refuses,
which never goes live."""

import json
import os
import re
import shlex
import uuid
from pathlib import Path

from conftest import refused_by_nginx

SITE = "example.test"
CONVERGE = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"

# On the test host: when each part of a streamed answer arrives, in
# seconds since the request started, as a browser that takes gzip asks.
ARRIVALS = """
import http.client, json, sys, time
start = time.monotonic()
connection = http.client.HTTPConnection("127.0.0.1", 80, timeout=20)
connection.request("GET", sys.argv[1], headers={"Host": "example.test", "Accept-Encoding": "gzip"})
answer = connection.getresponse()
arrivals = []
while answer.read1(65536):
    arrivals.append(round(time.monotonic() - start, 2))
print(json.dumps({"status": answer.status, "encoding": answer.getheader("Content-Encoding", ""),
                  "arrivals": arrivals}))
"""

# On the test host: a WebSocket handshake through nginx on PATH, one masked
# text message, and what comes back.
WEBSOCKET = """
import base64, json, os, socket, sys
connection = socket.create_connection(("127.0.0.1", 80), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
connection.sendall((f"GET {sys.argv[1]} HTTP/1.1\\r\\nHost: example.test\\r\\nUpgrade: websocket\\r\\n"
                    f"Connection: Upgrade\\r\\nSec-WebSocket-Key: {key}\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n").encode())
head = b""
while b"\\r\\n\\r\\n" not in head:
    chunk = connection.recv(1)
    if not chunk:
        break
    head += chunk
status = int(head.split()[1])
reply = ""
if status == 101:
    mask, data = os.urandom(4), b"hello"
    connection.sendall(bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
    frame = connection.recv(2)
    reply = connection.recv(frame[1] & 0x7F).decode()
print(json.dumps({"status": status, "reply": reply}))
"""


def on_host(host, script, argument):
    return json.loads(host.check_output(f"python3 -c {shlex.quote(script)} {argument}"))


def test_a_directive_of_the_site_is_in_every_answer(http_get):
    for path in ("/", "/no-such-page"):
        answer = http_get(f"http://127.0.0.1{path}", SITE)
        assert answer.headers["x-own-directive"] == "site; level", answer


def test_a_location_of_its_own_answers_with_its_directives_without_the_application(host, http_get):
    answer = http_get("http://127.0.0.1/legacy/page", SITE)
    assert answer.status == 301 and answer.headers["location"].endswith("/new/"), answer
    log = host.check_output("journalctl --unit echo-backend.service --no-pager --output cat")
    assert "request /legacy/page" not in log


def test_a_streaming_location_passes_each_line_on_as_it_is_written(host):
    """Six lines of text, one every half second, to a client that takes
    gzip: through the streaming location each arrives as it is written;
    through the site's own location nginx compresses the answer, and the
    client gets nothing until the last line."""
    streamed = on_host(host, ARRIVALS, "/events/stream/6/")
    buffered = on_host(host, ARRIVALS, "/elsewhere/stream/6/")
    print(f"streamed: {streamed}, compressed: {buffered}")
    assert streamed["status"] == buffered["status"] == 200
    assert streamed["encoding"] == "" and buffered["encoding"] == "gzip"
    assert len(streamed["arrivals"]) >= 5
    assert streamed["arrivals"][0] < 1.0 and streamed["arrivals"][-1] >= 2.4
    assert buffered["arrivals"][0] >= 2.4


def test_a_websocket_location_upgrades_and_the_application_echoes(host):
    assert on_host(host, WEBSOCKET, "/ws/chat") == {"status": 101, "reply": "echo: hello"}
    # Elsewhere the Upgrade stops at nginx: a plain answer.
    assert on_host(host, WEBSOCKET, "/chat")["status"] == 200


def test_a_directive_nginx_refuses_never_goes_live(fleet, run_playbook_on_fleet, fleet_requests):
    files = ["/etc/nginx/nginx.conf", f"/etc/nginx/sites-available/{SITE}.conf"]
    refused_by_nginx(fleet, run_playbook_on_fleet, fleet_requests, CONVERGE, SITE, files,
                     {"nginx_proxy_server_directives": ["no_such_directive on;"]}, "no_such_directive")


def statuses(host, path, client, count):
    """COUNT requests, one after the other as fast as curl goes,
    to other.test from the trusted proxy (this host) for CLIENT."""
    out = host.check_output(
        f"for i in $(seq {count}); do curl --silent --output /dev/null --max-time 5 --write-out '%{{http_code}} ' "
        f"--header 'Host: other.test' --header 'X-Forwarded-For: {client}' http://127.0.0.1:8081{path}; done")
    return out.split()


def test_past_its_burst_a_limited_location_answers_429_per_real_client(host):
    """1 r/s with a burst of 2 on /auth/login: of six quick requests from one
    client (as the trusted proxy in front says), the first three pass and
    the rest get 429. Another client behind the same proxy has its own
    count, and the rest of the site is not limited."""
    first = statuses(host, "/auth/login", "198.51.100.7", 6)
    assert first[:3] == ["200"] * 3 and set(first[4:]) == {"429"}, first
    assert statuses(host, "/auth/login", "198.51.100.8", 1) == ["200"]
    assert set(statuses(host, "/elsewhere", "198.51.100.7", 6)) == {"200"}


def test_an_allow_listed_location_answers_403_to_any_other_address(host):
    assert statuses(host, "/admin/users", "10.9.9.5", 1) == ["200"]
    assert statuses(host, "/admin/users", "198.51.100.7", 1) == ["403"]
    assert host.run("curl --silent --output /dev/null --write-out '%{http_code}' --header 'Host: other.test' "
                    "http://127.0.0.1:8081/admin/users").stdout == "403"


REVIEWER_PASSWORD = "c0rrect horse: battery staple"


def test_a_location_behind_basic_auth_asks_for_the_password_and_keeps_it_hashed(host):
    """/private/ on other.test: 401 with the realm without credentials or
    with a wrong password, the application with the right one; the rest of
    the site asks for nothing. The file holds a hash, not the password,
    and only root and nginx's group may read it."""
    def fetch(credentials=None):
        auth = f"--user {shlex.quote(credentials)} " if credentials else ""
        return host.check_output(
            f"curl --silent --include --max-time 5 {auth}--header 'Host: other.test' "
            "http://127.0.0.1:8081/private/page | head -c 4000")

    refused = fetch()
    assert refused.startswith("HTTP/1.1 401"), refused
    assert 'WWW-Authenticate: Basic realm="Other staging"' in refused, refused
    assert fetch("reviewer:wrong").startswith("HTTP/1.1 401")
    assert fetch("intruder:" + REVIEWER_PASSWORD).startswith("HTTP/1.1 401")
    granted = fetch("reviewer:" + REVIEWER_PASSWORD)
    assert granted.startswith("HTTP/1.1 200") and '"path": "/private/page"' in granted, granted
    assert statuses(host, "/elsewhere", "198.51.100.9", 1) == ["200"]
    password_file = host.file("/etc/nginx/flaskops-auth/other.test.htpasswd")
    assert (password_file.user, password_file.group, password_file.mode) == ("root", "www-data", 0o640)
    assert password_file.content_string.startswith("reviewer:$6$")
    assert "c0rrect" not in password_file.content_string
    folder = host.file("/etc/nginx/flaskops-auth")
    assert (folder.user, folder.group, folder.mode) == ("root", "www-data", 0o750)


def test_a_json_access_log_line_carries_the_request_id_the_client_and_the_application_got(host, http_get):
    """example.test logs to a file of its own in the json format. A client's
    own X-Request-ID is not kept (nginx_proxy_request_id_trusted is false)."""
    path = f"/logged-{uuid.uuid4().hex}"
    answer = http_get(f"http://127.0.0.1{path}", SITE, "--header 'X-Request-ID: chosen-by-the-client'")
    request_id = answer.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), answer.headers
    assert json.loads(answer.body)["headers"]["x-request-id"] == request_id
    lines = [json.loads(line) for line in
             host.file("/var/log/nginx/example.test.access.log").content_string.splitlines() if path in line]
    assert len(lines) == 1, lines
    logged = lines[0]
    assert logged["request_id"] == request_id and logged["status"] == 200, logged
    assert logged["request"] == f"GET {path} HTTP/1.1" and logged["upstream"] == "127.0.0.1:8000", logged
    assert logged["client"] == "127.0.0.1" and logged["host"] == SITE, logged


def test_the_sites_own_502_page_when_the_application_is_down_and_only_for_those_codes(host, http_get):
    answer = http_get("http://127.0.0.1/status/502/", SITE)
    assert answer.status == 502 and 'Our "example" is restarting' in answer.body, answer
    assert answer.headers["x-content-type-options"] == "nosniff"
    # Codes without a page of the site pass through as the application sent them.
    answer = http_get("http://127.0.0.1/status/500/", SITE)
    assert answer.status == 500 and answer.body == "{}", answer
    host.run_expect([0], "systemctl stop echo-backend.service")
    try:
        answer = http_get("http://127.0.0.1/", SITE)
        assert answer.status == 502 and 'Our "example" is restarting' in answer.body, answer
    finally:
        host.run_expect([0], "systemctl start echo-backend.service")
    host.run_expect([0], "for i in $(seq 50); do curl -sf -o /dev/null -H 'Host: example.test' "
                         "http://127.0.0.1/ && exit 0; sleep 0.2; done; exit 1")
