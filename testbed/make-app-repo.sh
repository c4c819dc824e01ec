#!/usr/bin/env bash
# Make a git repository of the example application (examples/hello) and
# write it as a bundle: one file holding the whole repository, which the test
# hosts clone into a bare repository the roles deploy from. Commit dates and
# author are fixed, so the same content always gives the same commit.
#
# usage: make-app-repo.sh   (prints the bundle's path)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

src="$TESTBED_ROOT/examples/hello"
out="$TESTBED_STATE/app-repo/hello.bundle"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$(dirname "$out")"
(cd "$src" && find . -type f ! -path '*/__pycache__/*' ! -path './.venv/*' ! -name '*.pyc' -print0) \
  | (cd "$src" && xargs -0 cp --parents -t "$work")
export GIT_AUTHOR_NAME=flaskops GIT_AUTHOR_EMAIL=flaskops@example.invalid
export GIT_COMMITTER_NAME=flaskops GIT_COMMITTER_EMAIL=flaskops@example.invalid
export GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'
git -C "$work" init --quiet --initial-branch=main
git -C "$work" add --all
git -C "$work" commit --quiet --message "hello: example application"
git -C "$work" tag v1
git -C "$work" bundle create "$out.tmp" --all 2>/dev/null
mv "$out.tmp" "$out"
printf '%s\n' "$out"
