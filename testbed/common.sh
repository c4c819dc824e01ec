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
