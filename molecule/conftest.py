"""Helpers shared by the scenarios' testinfra tests."""

from typing import NamedTuple

import pytest


class Response(NamedTuple):
    rc: int  # curl's exit code: 0, or why no answer came (52: closed without a reply)
    status: int | None
    headers: dict
    body: str


@pytest.fixture
def http_get(host):
    """GET a URL with curl on the test host, sending the given Host header."""

    def get(url, host_header, *options):
        result = host.run(
            "curl --silent --show-error --max-time 5 --include "
            f"--header 'Host: {host_header}' " + " ".join(options) + f" '{url}'"
        )
        if result.rc != 0:
            return Response(result.rc, None, {}, result.stderr)
        head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
        status_line, *lines = head.splitlines()
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Response(0, int(status_line.split()[1]), headers, body)

    return get
