#!/usr/bin/env bash
# Build a Debian base image for the test bed, shaped like a fresh cloud
# server: systemd as PID 1, sshd, python3, sudo, and a non-root "deploy" user
# allowed to sudo. Built with mmdebstrap from this machine's own Debian
# mirror, imported into podman. Does nothing when the image already exists.
#
# usage: build-image.sh SUITE [SUITE ...]    (bookworm, trixie)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ "$#" -ge 1 ] || die "usage: $0 SUITE [SUITE ...]"

# The first Debian archive this machine's apt uses (deb822 or one-line form).
debian_mirror() {
  local uri
  uri="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/\{0,1\}$/\1/p' \
           /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)"
  if [ -z "$uri" ]; then
    uri="$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\([^[:space:]]*\/debian\)\/\{0,1\}[[:space:]].*/\2/p' \
             /etc/apt/sources.list 2>/dev/null | head -n 1)"
  fi
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

build_rootfs() {  # build_rootfs SUITE MIRROR TARBALL
  local suite="$1" mirror="$2" tarball="$3"
  # Hooks run on the host with the new root file system as $1.
  # - trust the CA certificates this host added (an intercepting proxy's),
  #   for apt, git and pip alike, as a server behind such a proxy must;
  # - a deploy user with passwordless sudo and key-only SSH, like the
  #   default user of a cloud image.
  # The hooks' $1 (the new root) is mmdebstrap's, not this script's:
  # shellcheck disable=SC2016
  mmdebstrap --variant=minbase --mode=root \
    --include=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,openssh-server,iproute2,ca-certificates,netbase,curl,procps,less \
    --customize-hook='if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
        cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/";
        chroot "$1" update-ca-certificates >/dev/null;
        printf "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n" >"$1/etc/pip.conf";
      fi' \
    --customize-hook="chroot \"\$1\" useradd --create-home --shell /bin/bash --groups sudo $TESTBED_USER" \
    --customize-hook="printf '%s ALL=(ALL) NOPASSWD:ALL\n' $TESTBED_USER >\"\$1/etc/sudoers.d/90-$TESTBED_USER\"; chmod 0440 \"\$1/etc/sudoers.d/90-$TESTBED_USER\"" \
    --customize-hook='printf "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin no\n" >"$1/etc/ssh/sshd_config.d/50-testbed.conf"' \
    --customize-hook='rm -f "$1/etc/machine-id"; touch "$1/etc/machine-id"' \
    "$suite" "$tarball" "deb $mirror $suite main"
}

build_one() {
  local suite="$1" image="$TESTBED_IMAGE_PREFIX:$1" mirror tarball
  if podman image exists "$image"; then
    log "image $image exists"
    return 0
  fi
  mirror="$(debian_mirror)"
  tarball="$TESTBED_STATE/rootfs-$suite.tar"
  mkdir -p "$TESTBED_STATE"
  log "building $image from $mirror"
  # One retry: a mirror hiccup should not fail a whole test run.
  local attempt
  for attempt in 1 2; do
    if build_rootfs "$suite" "$mirror" "$tarball"; then break; fi
    [ "$attempt" = 2 ] && die "could not build the $suite root file system"
    log "mmdebstrap failed; trying again in 10s"
    sleep 10
  done
  podman import \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    "$tarball" "$image" >/dev/null
  rm -f "$tarball"
  log "image $image built"
}

for suite in "$@"; do
  build_one "$suite"
done
