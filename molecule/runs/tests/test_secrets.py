"""Secrets never reach the terminal, in any form a program prints them.

A release that prints its environment (a Python repr, with backslashes
doubled; JSON, escaped; percent-encoded for a URL) and then fails, once on
import (the role's own import check) and once only under gunicorn (the
gate), deployed at -vvv with a secret holding quotes, a backslash, an "@",
a space, a slash and a percent sign. The run shows why the release was
refused, never the secret; the site keeps serving throughout.
"""

import json
import os
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from conftest import live

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
DEPLOY = PROJECT / "playbooks" / "deploy.yml"
DOMAIN = "hello.test"
SECRET = "s3cr3t\"quo'te@b\\ack sl/ash%x+y"


def printed_forms(secret):
    """How a program prints the secret: as is, in a repr, in JSON, in a URL."""
    return {
        secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""), quote(secret),
        quote_plus(secret), secret.replace("\\", "\\\\"),
        # What the environment file holds.
        secret.replace("\\", "\\\\").replace('"', '\\"'),
    }


@pytest.mark.parametrize(("fail_at", "said"), [
    ("import", "failing on purpose with environ("),
    ("gunicorn", "Refused before going live"),
])
def test_a_release_that_prints_its_secret_never_shows_it_even_at_vvv(
        host, run_playbook, background_requests, fail_at, said):
    before = live(host)
    stop = background_requests(DOMAIN)
    run = run_playbook(DEPLOY, "-vvv", "-e", json.dumps({
        "flask_app_version": "prints-env",
        "flask_app_env": {"HELLO_TRUSTED_HOPS": "1", "HELLO_FAIL_AT": fail_at},
        "flask_app_secret_env": {"SECRET_KEY": SECRET}}))
    report = stop()
    print(f"requests through nginx: {report}")
    assert run.rc != 0
    assert said in run.output, run.output[-3000:]
    assert "********" in run.output, "the secret was there, and masked"
    for form in printed_forms(SECRET):
        assert form not in run.output, f"{form!r} is in the output"
    # Fragments no shorter spelling may leave behind either.
    for fragment in ("s3cr3t", "b\\ack", "b%5Cack", "sl%2Fash"):
        assert fragment not in run.output, fragment
    assert report["failed"] == 0, report["errors"]
    assert live(host) == before
