#!/usr/bin/env bash
# The longest a request waits while a new version goes live, through nginx,
# for an application that takes 3 s to import: gunicorn restarted (what a
# deploy did before the no-pause hand-over) against a deploy with
# playbooks/deploy.yml and a plain `systemctl reload` (the hand-over), side
# by side on one fresh test-bed host. Requests go one after the other from
# inside the host to 127.0.0.1 (nginx), 20 ms apart, and the loop runs
# across the whole change.
#
#   restart   systemctl restart hello: the socket queues connections while
#             the new master imports the application
#   deploy    ansible-playbook playbooks/deploy.yml of the next version:
#             gate, switch, hand-over, check
#   reload    systemctl reload hello: the hand-over alone
#
# usage: bench/deploy-latency.sh [ROUNDS]   (default 3; prints a Markdown table)
source "$(dirname "${BASH_SOURCE[0]}")/../testbed/common.sh"
cd "$TESTBED_ROOT" || exit

rounds="${1:-3}"
suite="${BENCH_SUITE:-bookworm}"
name=flaskops-bench
port="${BENCH_SSH_PORT:-2299}"
import_seconds=3
work="$(mktemp -d)"
trap '"$TESTBED_ROOT/testbed/instance.sh" down "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

cat >"$work/hosts.yml" <<HOSTS
all:
  children:
    app:
      hosts:
        $name:
    web:
      hosts:
        $name:
  hosts:
$(host_entry "$name" "$port")
  vars:
    flask_app_name: hello
    flask_app_repo: /srv/git/hello.git
    flask_app_wsgi_app: "hello:app"
    flask_app_env:
      HELLO_TRUSTED_HOPS: "1"
      HELLO_IMPORT_SECONDS: "$import_seconds"
    flask_app_secret_env:
      SECRET_KEY: bench-secret
    nginx_proxy_server_name: hello.test
HOSTS

playbook() {  # playbook FILE [ARGS...]: run it against the bench host, quietly
  ansible-playbook -i "$work/hosts.yml" "$@" >"$work/last.log" 2>&1 \
    || { tail -40 "$work/last.log" >&2; die "$* failed"; }
}

# measure ACTION...: the request loop's report while ACTION runs (on this
# machine: ansible-playbook, or podman exec for systemctl).
measure() {
  podman exec "$name" rm -f /tmp/bench.stop
  podman exec -d "$name" sh -c "python3 /usr/local/bin/request_loop.py http://127.0.0.1/ hello.service \
    --restarts 0 --count 5000 --interval 0.02 --timeout 30 --host hello.test \
    --until /tmp/bench.stop > /tmp/bench.json 2>&1" >/dev/null
  sleep 2
  "$@" >/dev/null
  sleep 2
  podman exec "$name" touch /tmp/bench.stop
  sleep 1
  podman exec "$name" cat /tmp/bench.json
}

declare -A worst
for round in $(seq "$rounds"); do
  log "round $round of $rounds: a fresh Debian $suite host, hello taking ${import_seconds}s to import"
  "$TESTBED_ROOT/testbed/instance.sh" down "$name" >/dev/null 2>&1 || true
  "$TESTBED_ROOT/testbed/instance.sh" up "$name" "$suite" --ssh-port "$port" >/dev/null
  playbook testbed/seed-app-repo.yml
  podman cp testbed/request_loop.py "$name:/usr/local/bin/request_loop.py"
  playbook playbooks/site.yml -e flask_app_version=v1
  for kind in restart deploy reload; do
    case "$kind" in
      restart) report=$(measure podman exec "$name" systemctl restart hello.service) ;;
      deploy) report=$(measure playbook playbooks/deploy.yml -e flask_app_version=v2) ;;
      reload) report=$(measure podman exec "$name" systemctl reload hello.service) ;;
    esac
    log "$kind: $report"
    worst[$kind]+="$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["max_ms"], r["p99_ms"], r["sent"], r["failed"])' "$report");"
  done
done

# The median of the rounds for each figure; the ratio is restart / deploy.
python3 - "$rounds" "$suite" "${worst[restart]}" "${worst[deploy]}" "${worst[reload]}" <<'PY'
import statistics, sys
rounds, suite, *kinds = sys.argv[1:]
rows = {}
for kind, raw in zip(("restart", "deploy", "reload"), kinds):
    runs = [list(map(float, r.split())) for r in raw.split(";") if r]
    rows[kind] = [statistics.median(col) for col in zip(*runs)] + [sum(r[2] for r in runs), sum(r[3] for r in runs)]
print(f"\n| change under load (median of {rounds}, Debian {suite}, 3 s import) "
      "| max latency ms | p99 ms | requests sent | failed | max latency against restart |")
print("|---|---:|---:|---:|---:|---:|")
labels = {"restart": "`systemctl restart hello` (before)", "deploy": "`deploy.yml` of a new version",
          "reload": "`systemctl reload hello`"}
for kind in ("restart", "deploy", "reload"):
    max_ms, p99, _, _, sent, failed = rows[kind]
    print(f"| {labels[kind]} | {max_ms:.0f} | {p99:.0f} | {sent:.0f} | {failed:.0f} "
          f"| {max_ms / rows['restart'][0]:.3f} |")
PY
