"""Faults on the converged stack: the whole host restarted, serving the
same release afterwards. Deploys killed part-way are the runs scenario's
(test_locks.py).
"""

import subprocess
import time

from test_site_deploys import DOMAIN, served_release


def test_a_restarted_host_serves_again_on_its_own(fleet, recovery_time, record):
    for name, host in fleet.items():
        serving = served_release(host)
        started = time.monotonic()
        subprocess.run(["podman", "restart", "--time", "10", name], check=True, capture_output=True)
        restarted = round(time.monotonic() - started, 2)
        seconds = recovery_time(host, f"curl --silent --fail --max-time 1 --output /dev/null "
                                      f"--header 'Host: {DOMAIN}' http://127.0.0.1/", timeout=120)
        record("host restarted (podman restart): seconds from the restart's end until the site answers",
               name, seconds=seconds, restart_seconds=restarted)
        # The first worker answers before the others have loaded the app;
        # gunicorn tells systemd it is ready once all have.
        for unit in ("nginx.service", "hello.socket", "hello.service"):
            assert host.run(f"timeout 60 sh -c 'until systemctl is-active --quiet {unit}; do sleep 0.5; done'").rc == 0, \
                host.run(f"systemctl status --no-pager {unit}").stdout
        assert served_release(host) == serving
