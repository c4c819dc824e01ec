#!/usr/bin/env bash
# How long a code-only deploy takes against a full one, measured side by side
# on one fresh test-bed host (a local container, nothing leaves 127.0.0.1
# but pip's and apt's downloads).
#
#   first     v1 on a fresh host: packages, user, folders, wheelhouse, venv
#   deps      v2 with the wheelhouses removed first: what any release whose
#             dependencies changed costs (download, build, install)
#   code      v3, dependencies as before: the code-only deploy
#   same      v3 again: nothing to do
#
# usage: bench/deploy-times.sh [ROUNDS]   (default 3; prints a Markdown table)
source "$(dirname "${BASH_SOURCE[0]}")/../testbed/common.sh"
cd "$TESTBED_ROOT" || exit

rounds="${1:-3}"
suite="${BENCH_SUITE:-bookworm}"
name=flaskops-bench
port="${BENCH_SSH_PORT:-2299}"
work="$(mktemp -d)"
trap '"$TESTBED_ROOT/testbed/instance.sh" down "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

{
  printf 'all:\n  hosts:\n'
  host_entry "$name" "$port"
  printf '      ansible_become: true\n'
} >"$work/hosts.yml"
cat >"$work/deploy.yml" <<'PLAY'
- name: Deploy hello
  hosts: all
  roles:
    - role: flaskops.stack.flask_app
      vars:
        flask_app_name: hello
        flask_app_repo: /srv/git/hello.git
        flask_app_wsgi_app: "hello:app"
        flask_app_secret_env:
          SECRET_KEY: bench-secret
PLAY

# deploy VERSION: seconds one ansible-playbook run takes
deploy() {
  local start=$EPOCHREALTIME
  ansible-playbook -i "$work/hosts.yml" "$work/deploy.yml" -e "flask_app_version=$1" >"$work/last.log" 2>&1 \
    || { cat "$work/last.log" >&2; die "deploy of $1 failed"; }
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

declare -A total=([first]=0 [deps]=0 [code]=0 [same]=0)
for round in $(seq "$rounds"); do
  log "round $round of $rounds: a fresh Debian $suite host"
  "$TESTBED_ROOT/testbed/instance.sh" down "$name" >/dev/null 2>&1 || true
  "$TESTBED_ROOT/testbed/instance.sh" up "$name" "$suite" --ssh-port "$port" >/dev/null
  ansible-playbook -i "$work/hosts.yml" testbed/seed-app-repo.yml >"$work/seed.log" 2>&1 \
    || { cat "$work/seed.log" >&2; die "seeding failed"; }
  t_first=$(deploy v1)
  podman exec "$name" rm -rf /var/cache/flaskops/hello/wheels /var/cache/flaskops/hello/pip
  t_deps=$(deploy v2)
  t_code=$(deploy v3)
  t_same=$(deploy v3)
  log "first ${t_first}s, dependencies changed ${t_deps}s, code only ${t_code}s, same commit ${t_same}s"
  for k in first deps code same; do
    v="t_$k"; total[$k]=$(awk -v a="${total[$k]}" -v b="${!v}" 'BEGIN { print a + b }')
  done
done

mean() { awk -v t="${total[$1]}" -v n="$rounds" 'BEGIN { printf "%.1f", t / n }'; }
ratio() { awk -v t="${total[$1]}" -v d="${total[deps]}" 'BEGIN { printf "%.2f", t / d }'; }
printf '\n| deploy (mean of %s, Debian %s) | seconds | against "dependencies changed" |\n' "$rounds" "$suite"
printf '|---|---:|---:|\n'
printf '| first deploy to a fresh host | %s | %s |\n' "$(mean first)" "$(ratio first)"
printf '| new commit, dependencies changed | %s | 1.00 |\n' "$(mean deps)"
printf '| new commit, code only | %s | %s |\n' "$(mean code)" "$(ratio code)"
printf '| same commit again | %s | %s |\n' "$(mean same)" "$(ratio same)"
