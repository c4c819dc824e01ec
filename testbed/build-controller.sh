#!/usr/bin/env bash
# Build the controller image for the newest ansible-core the collection
# supports (requirements-newest.txt): the Debian 13 test-bed image with a
# virtualenv of Python 3.13 at /opt/ansible holding it, as a user on a
# current distribution would install it. Does nothing when the image
# exists and was built from the same requirements.
#
# usage: build-controller.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

requirements="$TESTBED_ROOT/requirements-newest.txt"
digest="$(sha256sum "$requirements" | cut -c1-12)"
image="$TESTBED_IMAGE_PREFIX:controller-$digest"
if podman image exists "$image"; then
  log "image $image exists"
  printf '%s\n' "$image"
  exit 0
fi
podman image exists "$TESTBED_IMAGE_PREFIX:trixie" || "$TESTBED_ROOT/testbed/build-image.sh" trixie
name="flaskops-build-controller-$$"
trap 'podman rm --force --ignore "$name" >/dev/null' EXIT
log "building $image (ansible-core from requirements-newest.txt)"
podman run --detach --name "$name" --volume "$requirements:/tmp/requirements.txt:ro" \
  "$TESTBED_IMAGE_PREFIX:trixie" sleep infinity >/dev/null
podman exec "$name" sh -c 'set -e
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3-venv openssh-client >/dev/null
  rm -rf /var/lib/apt/lists/*
  python3 -m venv /opt/ansible
  /opt/ansible/bin/pip install --quiet --disable-pip-version-check -r /tmp/requirements.txt
  /opt/ansible/bin/ansible-playbook --version'
podman commit --quiet --change 'CMD ["sleep", "infinity"]' "$name" "$image" >/dev/null
log "image $image built"
printf '%s\n' "$image"
