#!/usr/bin/env bash
# Prepare this machine to run the test bed: a container engine (rootful
# podman from Debian, installed only when podman is absent), a
# containers.conf that works around the host limits, and an SSH key pair
# for reaching the test hosts as the deploy user.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ "$(id -u)" = 0 ] || die "the test bed runs rootful podman: run as root"

if ! command -v podman >/dev/null 2>&1; then
  log "installing podman from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq podman runc fuse-overlayfs slirp4netns passt uidmap \
    catatonit netavark aardvark-dns iptables >/dev/null
fi
for tool in mmdebstrap ssh; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    log "installing $tool"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq mmdebstrap openssh-client >/dev/null
  fi
done

mkdir -p "$TESTBED_STATE/ssh"
chmod 0700 "$TESTBED_STATE/ssh"

# Podman's default ulimits can exceed the host's hard limit, and crun does not
# run on a cgroup v1 hybrid host: stay under the limit and use runc.
hard_nofile="$(ulimit -Hn)"
if [ "$hard_nofile" = unlimited ] || [ "$hard_nofile" -gt 1048576 ]; then
  hard_nofile=1048576
fi
runtime=crun
if command -v runc >/dev/null 2>&1; then runtime=runc; fi
conf_tmp="$(mktemp)"
cat >"$conf_tmp" <<CONF
# Written by testbed/host-setup.sh for this machine.
[containers]
default_ulimits = ["nofile=${hard_nofile}:${hard_nofile}", "nproc=32768:32768"]

[engine]
runtime = "${runtime}"

[network]
network_backend = "netavark"
CONF
mv "$conf_tmp" "$CONTAINERS_CONF"

if [ ! -f "$TESTBED_SSH_KEY" ]; then
  ssh-keygen -q -t ed25519 -N '' -C flaskops-testbed -f "$TESTBED_SSH_KEY"
fi

podman info --format '{{.Host.OCIRuntime.Name}} {{.Version.Version}}' >/dev/null \
  || die "podman does not work with $CONTAINERS_CONF"
log "host ready: podman $(podman version --format '{{.Client.Version}}'), runtime $runtime, nofile $hard_nofile"
