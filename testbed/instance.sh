#!/usr/bin/env bash
# Start and stop test hosts: containers running systemd as PID 1 with sshd,
# reached over SSH as the deploy user on a port published on 127.0.0.1.
#
# usage:
#   instance.sh up NAME SUITE [--ssh-port N] [--publish [HOSTPORT:]PORT]...
#                  [--network NET [--ip ADDRESS]] [--alias NAME]...
#                  [--cap-add CAPABILITY]...
#       start NAME (replacing any old one) and print its SSH port; ports are
#       published on 127.0.0.1 only, on HOSTPORT or on a free port. With
#       --ip, NET is created (when missing) on ADDRESS's /24 and the host
#       gets ADDRESS on it.
#   instance.sh running NAME       exit 0 when NAME is up and answers SSH
#   instance.sh port NAME PORT     the 127.0.0.1 port published for PORT
#   instance.sh down NAME...       remove the hosts (missing ones are fine)
#   instance.sh network-down NET   remove a network no host uses any more
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit="$1" what="$2" waited=0
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$waited" -lt "$limit" ] || return 1
    sleep 1
    waited=$((waited + 1))
  done
  log "$what after ${waited}s"
}

system_up() {  # running, or degraded: both mean boot has finished
  local state
  state="$(podman exec "$1" systemctl is-system-running 2>/dev/null || true)"
  [ "$state" = running ] || [ "$state" = degraded ]
}

published_port() {
  podman port "$1" "$2/tcp" | sed -n 's/^127\.0\.0\.1:\([0-9]\+\)$/\1/p' | head -n 1
}

cmd_up() {
  local name="$1" suite="$2" network="" ip="" ssh_port
  # systemd on a real server holds every capability; without CAP_SYS_ADMIN it
  # cannot build the sandboxes (ProtectSystem=, PrivateDevices=, seccomp
  # filters) of services that run as an unprivileged user, and Debian 13's
  # systemd then refuses to start them at all. Root on a server may also
  # set the network's kernel settings (net.core.somaxconn, which each
  # container has of its own): podman makes /proc/sys read-only unless
  # told otherwise.
  local -a run_args=(--detach --systemd=always --hostname "$name" --name "$name"
                     --cap-add SYS_ADMIN --security-opt unmask=/proc/sys
                     --label flaskops-testbed=1)
  local ssh_publish="127.0.0.1::22"
  shift 2
  while [ "$#" -gt 0 ]; do
    case "$1" in
      --ssh-port) ssh_publish="127.0.0.1:$2:22"; shift 2 ;;
      --publish)
        case "$2" in
          *:*) run_args+=(--publish "127.0.0.1:$2") ;;
          *) run_args+=(--publish "127.0.0.1::$2") ;;
        esac
        shift 2 ;;
      --network) network="$2"; shift 2 ;;
      --ip) ip="$2"; shift 2 ;;
      --alias) run_args+=(--network-alias "$2"); shift 2 ;;
      --cap-add) run_args+=(--cap-add "$2"); shift 2 ;;
      *) die "unknown option: $1" ;;
    esac
  done
  run_args+=(--publish "$ssh_publish")
  if [ -n "$network" ]; then
    local -a net_args=()
    if [ -n "$ip" ]; then
      [[ "$ip" =~ ^([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})\.[0-9]{1,3}$ ]] || die "--ip: not an IPv4 address: $ip"
      net_args=(--subnet "${BASH_REMATCH[1]}.0/24")
      # A hardware address of its own, made from the address, that a
      # restart keeps: the host and the other hosts of the network then go
      # on reaching a restarted host at once, as on a real network, instead
      # of sending to its old address until their neighbour cache forgets it.
      local -a octets
      IFS=. read -ra octets <<<"$ip"
      run_args+=(--ip "$ip" --mac-address "$(printf '02:fa:%02x:%02x:%02x:%02x' "${octets[@]}")")
    fi
    podman network exists "$network" || podman network create "${net_args[@]}" "$network" >/dev/null
    run_args+=(--network "$network")
  elif [ -n "$ip" ]; then
    die "--ip needs --network"
  fi
  [ -f "$TESTBED_SSH_KEY.pub" ] || die "no SSH key: run testbed/host-setup.sh first"
  podman image exists "$TESTBED_IMAGE_PREFIX:$suite" \
    || die "no image for $suite: run testbed/build-image.sh $suite first"

  podman rm --force --ignore "$name" >/dev/null
  podman run "${run_args[@]}" "$TESTBED_IMAGE_PREFIX:$suite" >/dev/null
  wait_for 90 "$name: systemd up" system_up "$name" \
    || { podman logs --tail 30 "$name" >&2; die "$name: systemd did not finish booting"; }

  # Hand the deploy user our public key, as a cloud provider would.
  podman exec -i "$name" sh -c "install -d -m 0700 -o $TESTBED_USER -g $TESTBED_USER /home/$TESTBED_USER/.ssh &&
    cat > /home/$TESTBED_USER/.ssh/authorized_keys &&
    chown $TESTBED_USER:$TESTBED_USER /home/$TESTBED_USER/.ssh/authorized_keys &&
    chmod 0600 /home/$TESTBED_USER/.ssh/authorized_keys" <"$TESTBED_SSH_KEY.pub"

  ssh_port="$(published_port "$name" 22)"
  [ -n "$ssh_port" ] || die "$name: SSH port not published"
  wait_for 60 "$name: SSH answers on 127.0.0.1:$ssh_port" ssh_answers "$ssh_port" \
    || die "$name: SSH does not answer"
  printf '%s\n' "$ssh_port"
}

ssh_answers() {
  ssh -p "$1" -i "$TESTBED_SSH_KEY" -o BatchMode=yes -o ConnectTimeout=3 \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    "$TESTBED_USER@127.0.0.1" true
}

cmd_running() {
  local port
  [ "$(podman inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" = true ] || return 1
  port="$(published_port "$1" 22)"
  [ -n "$port" ] && ssh_answers "$port" >/dev/null 2>&1
}

case "${1:-}" in
  up) shift; [ "$#" -ge 2 ] || die "usage: $0 up NAME SUITE [options]"; cmd_up "$@" ;;
  running) [ "$#" -eq 2 ] || die "usage: $0 running NAME"; cmd_running "$2" ;;
  port) [ "$#" -eq 3 ] || die "usage: $0 port NAME PORT"; published_port "$2" "$3" ;;
  down) shift; [ "$#" -ge 1 ] && podman rm --force --ignore --time 5 "$@" >/dev/null ;;
  network-down)
    [ "$#" -eq 2 ] || die "usage: $0 network-down NET"
    if podman network exists "$2"; then podman network rm "$2" >/dev/null; fi ;;
  *) die "usage: $0 up|running|port|down|network-down ..." ;;
esac
