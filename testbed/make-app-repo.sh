#!/usr/bin/env bash
# Make git repositories of the example applications and write each as a
# bundle: one file holding the whole repository, which the test hosts clone
# into a bare repository the roles deploy from. Commit dates and author are
# fixed, so the same content always gives the same commits.
#
#   hello.bundle  examples/hello with a history to deploy through:
#                 v1 (tag)         the example as it is
#                 v2 (tag)         a code-only change (requirements untouched)
#                 v3 (tag), main   another code-only change
#                 broken-import    v3 plus a module that raises on import,
#                                  quoting SECRET_KEY in its error
#                 tracked-instance v3 with instance/.gitkeep in the repository
#                 bench-1..6       v3 with another RELEASE each: code-only
#                                  deploys for the benchmarks
#                 health-500       v3 whose /healthz answers 500, quoting
#                                  SECRET_KEY in its answer
#                 fails-as-service v3 whose /healthz answers 500 only when it
#                                  runs as hello.service (it passes a gate
#                                  that runs it as another unit)
#                 prints-env       v3 that prints SECRET_KEY as programs do
#                                  (repr, JSON, percent-encoded) when it is
#                                  imported, then fails: on import with
#                                  HELLO_FAIL_AT=import, under gunicorn
#                                  (the gate) with HELLO_FAIL_AT=gunicorn
#                 worker-fails     v3 whose worker (hello_worker.py) raises
#                                  at once; the web application is fine
#   notes.bundle  examples/notes (pyproject.toml, factory, database), main = v1
#                 src-layout       the package moved to src/notes: installed
#                                  into the virtualenv, Flask's instance
#                                  folder is there too
#                 records-build-user  main with a setup.py that writes the
#                                  user building it into built-by.txt
#                 uv-locked        main depending on six>=1.16, with a uv.lock
#                                  that locks six 1.16.0 (the index has newer)
#                 needs-python-99  main whose requires-python is >=99
#
# usage: make-app-repo.sh   (prints the folder holding the bundles)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

out="$TESTBED_STATE/app-repo"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

export GIT_AUTHOR_NAME=flaskops GIT_AUTHOR_EMAIL=flaskops@example.invalid
export GIT_COMMITTER_NAME=flaskops GIT_COMMITTER_EMAIL=flaskops@example.invalid

# commit REPO DAY MESSAGE: commit everything in REPO on a fixed date.
commit() {
  export GIT_AUTHOR_DATE="2026-01-0$2T00:00:00Z" GIT_COMMITTER_DATE="2026-01-0$2T00:00:00Z"
  git -C "$1" add --all
  git -C "$1" commit --quiet --message "$3"
}

# start NAME: a new repository holding examples/NAME, committed as v1.
start() {
  local src="$TESTBED_ROOT/examples/$1" repo="$work/$1"
  mkdir -p "$repo"
  (cd "$src" && find . -type f ! -path '*/__pycache__/*' ! -path './.venv/*' \
     ! -path './instance/*' ! -path './build/*' ! -path '*.egg-info/*' ! -name '*.pyc' -print0) \
    | (cd "$src" && xargs -0 cp --parents -t "$repo")
  git -C "$repo" init --quiet --initial-branch=main
  commit "$repo" 1 "$1: example application"
  git -C "$repo" tag v1
}

# bundle NAME: write the repository's branches and tags to NAME.bundle.
# Written beside it under a name of its own, then renamed: scenarios running
# side by side make the same bundles at once.
bundle() {
  local part
  part="$(mktemp "$out/$1.bundle.XXXXXX")"
  git -C "$work/$1" bundle create "$part" --all 2>/dev/null
  mv "$part" "$out/$1.bundle"
}

start hello
# Each release has a stylesheet of its own, named after it as a bundler
# names its hashed assets: a page of one release asks for that file alone.
printf '/* v1 */\n' >"$work/hello/static/app-v1.css"
git -C "$work/hello" tag --delete v1 >/dev/null
commit "$work/hello" 1 "hello: the stylesheet of release v1"
git -C "$work/hello" tag v1
for n in 2 3; do
  printf '\n# Release v%s of the example.\nRELEASE = "v%s"\n' "$n" "$n" >>"$work/hello/hello.py"
  git -C "$work/hello" rm --quiet "static/app-v$((n - 1)).css"
  printf '/* v%s */\n' "$n" >"$work/hello/static/app-v$n.css"
  commit "$work/hello" "$n" "hello: release v$n"
  git -C "$work/hello" tag "v$n"
done
git -C "$work/hello" switch --quiet --create broken-import
printf 'import os\n\nraise RuntimeError("this release is broken on purpose; SECRET_KEY=" + os.environ.get("SECRET_KEY", ""))\n' \
  >"$work/hello/broken.py"
printf '\nimport broken  # noqa: E402,F401\n' >>"$work/hello/hello.py"
commit "$work/hello" 4 "hello: a release that cannot be imported"

git -C "$work/hello" switch --quiet --create health-500 main
cat >>"$work/hello/hello.py" <<'PY'


def broken_health():
    import os
    return jsonify(status="broken on purpose", secret=os.environ.get("SECRET_KEY", "")), 500


app.view_functions["healthz"] = broken_health
PY
commit "$work/hello" 5 "hello: a release whose health check fails"

git -C "$work/hello" switch --quiet --create fails-as-service main
cat >>"$work/hello/hello.py" <<'PY'


def health_unless_the_service():
    with open("/proc/self/cgroup", encoding="ascii") as cgroups:
        as_service = any(line.rstrip().endswith("/hello.service") for line in cgroups)
    if as_service:
        return jsonify(status="this release fails only as hello.service"), 500
    return jsonify(status="ok")


app.view_functions["healthz"] = health_unless_the_service
PY
commit "$work/hello" 6 "hello: a release that fails only as the service"

git -C "$work/hello" switch --quiet --create prints-env main
cat >>"$work/hello/hello.py" <<'PY'


def print_the_secret_and_fail():
    import json
    import sys
    from urllib.parse import quote, quote_plus
    secret = os.environ.get("SECRET_KEY", "")
    for stream in (sys.stdout, sys.stderr):
        print(repr(dict(os.environ)), json.dumps(dict(os.environ)), quote(secret, safe=""), quote_plus(secret),
              "SECRET_KEY=" + secret, file=stream, flush=True)
    fail_at = os.environ.get("HELLO_FAIL_AT", "import")
    if fail_at == "import" or (fail_at == "gunicorn" and "gunicorn" in sys.modules):
        raise RuntimeError(f"failing on purpose with {os.environ!r}")


print_the_secret_and_fail()
PY
commit "$work/hello" 7 "hello: a release that prints its environment and fails"

git -C "$work/hello" switch --quiet --create worker-fails main
printf 'raise RuntimeError("this worker cannot start, on purpose")\n' >"$work/hello/hello_worker.py"
printf '\n# Release worker-fails of the example.\nRELEASE = "worker-fails"\n' >>"$work/hello/hello.py"
commit "$work/hello" 7 "hello: a release whose worker cannot start"

git -C "$work/hello" switch --quiet --create tracked-instance main
mkdir -p "$work/hello/instance"
: >"$work/hello/instance/.gitkeep"
commit "$work/hello" 7 "hello: track the instance folder"

for n in 1 2 3 4 5 6; do
  git -C "$work/hello" switch --quiet --create "bench-$n" main
  printf '\n# A code-only change for the benchmarks.\nRELEASE = "bench-%s"\n' "$n" >>"$work/hello/hello.py"
  commit "$work/hello" 8 "hello: code-only release bench-$n"
done
git -C "$work/hello" switch --quiet main
bundle hello

start notes
git -C "$work/notes" switch --quiet --create records-build-user main
cat >"$work/notes/setup.py" <<'PY'
"""Records which user builds the project: the tests check it is not root."""
import os

from setuptools import setup

with open("built-by.txt", "w", encoding="ascii") as out:
    out.write(f"{os.geteuid()} {os.getegid()}\n")
setup()
PY
commit "$work/notes" 3 "notes: record the user that builds it"
git -C "$work/notes" switch --quiet main

# A dependency the index has newer releases of, locked to an older one.
git -C "$work/notes" switch --quiet --create uv-locked main
sed -i 's/^    "werkzeug==3.1.9",$/    "werkzeug==3.1.9",\n    "six>=1.16",/' "$work/notes/pyproject.toml"
cat >"$work/notes/uv.lock" <<'TOML'
version = 1
requires-python = ">=3.11"

[[package]]
name = "notes"
version = "1.0.0"
source = { editable = "." }
dependencies = [
    { name = "flask" },
    { name = "six" },
    { name = "werkzeug" },
]

[[package]]
name = "six"
version = "1.16.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "werkzeug"
version = "3.1.9"
source = { registry = "https://pypi.org/simple" }
TOML
commit "$work/notes" 4 "notes: six, locked by uv.lock"
git -C "$work/notes" switch --quiet main

git -C "$work/notes" switch --quiet --create needs-python-99 main
sed -i 's/^requires-python = ">=3.11"$/requires-python = ">=99"/' "$work/notes/pyproject.toml"
commit "$work/notes" 4 "notes: a release for a Python that does not exist"
git -C "$work/notes" switch --quiet main

git -C "$work/notes" switch --quiet --create src-layout
mkdir -p "$work/notes/src"
git -C "$work/notes" mv notes src/notes
sed -i 's/^packages = \["notes"\]$/package-dir = {"" = "src"}\npackages = ["notes"]/' "$work/notes/pyproject.toml"
commit "$work/notes" 2 "notes: src layout"
git -C "$work/notes" switch --quiet main
bundle notes

printf '%s\n' "$out"
