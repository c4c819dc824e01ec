# Shared settings for the test-bed scripts; sourced, not run.
# shellcheck shell=bash
set -euo pipefail

TESTBED_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TESTBED_STATE="${TESTBED_STATE:-$TESTBED_ROOT/.testbed}"
TESTBED_IMAGE_PREFIX="${TESTBED_IMAGE_PREFIX:-localhost/flaskops-testbed}"
TESTBED_SSH_KEY="$TESTBED_STATE/ssh/id_ed25519"
TESTBED_USER="${TESTBED_USER:-deploy}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$TESTBED_STATE/containers.conf}"

log() { printf '[testbed] %s\n' "$*" >&2; }
die() { printf '[testbed] error: %s\n' "$*" >&2; exit 1; }

# host_entry NAME PORT: the inventory lines (under "hosts:") that reach the
# test-bed host NAME over SSH on 127.0.0.1:PORT as the deploy user.
host_entry() {
  cat <<ENTRY
    $1:
      ansible_host: 127.0.0.1
      ansible_port: $2
      ansible_user: $TESTBED_USER
      ansible_private_key_file: $TESTBED_SSH_KEY
      ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
ENTRY
}
