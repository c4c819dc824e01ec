"""A small Flask application used as the demo and as the test fixture.

It reports what it sees of each request, so a test can check what the
reverse proxy passed on: the client address, the scheme and the host.
"""

import json
import os
import time

from flask import Flask, abort, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

# How many proxies stand in front of the app. Each one appends to
# X-Forwarded-For; trusting more hops than there are proxies would let a
# client choose its own address.
TRUSTED_HOPS = int(os.environ.get("HELLO_TRUSTED_HOPS", "1"))

# Which release of the example this is; the test repository's later commits
# set it again at the end of the module.
RELEASE = "v1"

# Seconds the module takes to import: none by default. Set it to stand in for
# an application with a slow start (a large code base, a warm-up), as the
# tests and benchmarks do to show that a deploy does not pause the site.
time.sleep(float(os.environ.get("HELLO_IMPORT_SECONDS", "0")))

app = Flask(__name__)
app.wsgi_app = ProxyFix(
    app.wsgi_app,
    x_for=TRUSTED_HOPS,
    x_proto=TRUSTED_HOPS,
    x_host=TRUSTED_HOPS,
    x_port=0,
    x_prefix=0,
)


@app.get("/")
def index():
    return jsonify(
        app="hello",
        release=RELEASE,
        client=request.remote_addr,
        scheme=request.scheme,
        host=request.host,
    )


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.post("/jobs")
def enqueue_job():
    """Enqueue a job for the worker (hello_worker.py): ?seconds= its length."""
    import hello_jobs  # pylint: disable=import-outside-toplevel  # hello.py also runs alone
    seconds = request.args.get("seconds", "0")
    if not seconds.replace(".", "", 1).isdigit() or float(seconds) > 600:
        abort(400)
    return jsonify(id=hello_jobs.enqueue(float(seconds), RELEASE)), 202


@app.get("/jobs/<job_id>")
def job(job_id):
    import hello_jobs  # pylint: disable=import-outside-toplevel
    if not job_id.isalnum():
        abort(404)
    return jsonify(hello_jobs.state(job_id))


@app.get("/ticks")
def ticks():
    """What the scheduled job (hello_tick.py) noted, the latest 50 runs."""
    path = os.path.join(os.environ.get("HELLO_INSTANCE", "instance"), "ticks.jsonl")
    try:
        with open(path, encoding="utf-8") as lines:
            found = [json.loads(line) for line in lines if line.strip()]
    except FileNotFoundError:
        found = []
    return jsonify(ticks=found[-50:])
