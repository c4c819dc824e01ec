"""One-off commands in the live release (playbooks/run.yml), on the whole
stack: the output is shown with secrets masked, and a failing command
fails the run with its exit status."""

import json
import os
from pathlib import Path

from conftest import live

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
RUN = PROJECT / "playbooks" / "run.yml"
DOMAIN = "hello.test"
SECRET = "site-scenario-secret"


def run_args(command, **more):
    return ["-e", json.dumps({"flaskops_command": command, **more})]


def test_a_command_runs_in_the_live_release_as_the_app_user_with_its_secrets_masked(host, run_playbook):
    release = live(host)
    version = json.loads(host.check_output(
        f"curl --silent --fail --max-time 5 --header 'Host: {DOMAIN}' http://127.0.0.1/"))["release"]
    script = ("import getpass, os, hello; "
              "print('secret', os.environ['SECRET_KEY']); "
              "print('as', getpass.getuser(), 'release', hello.RELEASE, 'in', os.getcwd())")
    ran = run_playbook(RUN, *run_args(f'python -c "{script}"'), "-vvv")
    assert ran.rc == 0, ran.output[-3000:]
    assert SECRET not in ran.output
    assert "secret ********" in ran.output, ran.output[-3000:]
    assert f"as hello release {version} in {release}" in ran.output


def test_a_failing_command_fails_the_run_with_its_exit_status(run_playbook):
    failed = run_playbook(RUN, *run_args("python -c 'import sys; print(\"about to fail\"); sys.exit(3)'"))
    assert failed.rc != 0
    assert "about to fail" in failed.output
    assert "exited with status 3" in failed.output, failed.output[-3000:]


def test_a_command_that_is_not_one_line_is_refused(run_playbook):
    refused = run_playbook(RUN, *run_args("flask db current\nrm -rf /srv"))
    assert refused.rc != 0
    assert "flaskops_command" in refused.output and "Nothing was run." in refused.output
