#!/usr/bin/env bash
# make demo: deploy the example application to a local Debian container with
# playbooks/site.yml, exactly as to a server, then show it answering through
# nginx on 127.0.0.1. Running it again re-applies the playbook to the same
# container, which then reports no change.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$TESTBED_ROOT" || exit

name=flaskops-demo
suite="${DEMO_SUITE:-bookworm}"
ssh_port="${DEMO_SSH_PORT:-2222}"
http_port="${DEMO_HTTP_PORT:-8080}"
domain=hello.localhost
export DEMO_SSH_PORT="$ssh_port"

if "$TESTBED_ROOT/testbed/instance.sh" running "$name"; then
  log "reusing the running demo host $name"
else
  log "starting the demo host $name (Debian $suite)"
  "$TESTBED_ROOT/testbed/instance.sh" up "$name" "$suite" \
    --ssh-port "$ssh_port" --publish "$http_port:80" >/dev/null \
    || die "could not start $name: are ports $ssh_port and $http_port free? (set DEMO_SSH_PORT, DEMO_HTTP_PORT)"
fi

log "publishing examples/hello as a git repository on the demo host"
if ! seed_output="$(ansible-playbook -i inventories/demo testbed/seed-app-repo.yml 2>&1)"; then
  printf '%s\n' "$seed_output" >&2
  die "could not publish the example application on $name"
fi

log "installing Redis, the broker of the example's jobs, on the demo host"
if ! broker_output="$(ansible-playbook -i inventories/demo testbed/broker.yml 2>&1)"; then
  printf '%s\n' "$broker_output" >&2
  die "could not install Redis on $name"
fi

log "ansible-playbook -i inventories/demo playbooks/site.yml"
ansible-playbook -i inventories/demo playbooks/site.yml

# show HOST PATH: one request from this machine, printed the way curl -i would.
show() {
  printf '\n$ curl -i -H "Host: %s" "http://127.0.0.1:%s%s"\n' "$1" "$http_port" "$2"
  python3 "$TESTBED_ROOT/testbed/http_show.py" "$1" "$http_port" "$2"
}

printf '\nThe example application is deployed: Flask under gunicorn (systemd,\n'
printf '127.0.0.1:8000 inside the host) behind nginx, whose port 80 is published\n'
printf 'on 127.0.0.1:%s of this machine.\n' "$http_port"
show "$domain" "/"
show "$domain" "/healthz"
show "$domain" "/static/hello.css"
show "www.$domain" "/some/path?q=1"
printf '\nA job, enqueued through the site and run by the worker (hello-jobs@1.service,\n'
printf 'flask_app_processes) from the same release:\n'
printf '\n$ curl -i -X POST -H "Host: %s" "http://127.0.0.1:%s/jobs"\n' "$domain" "$http_port"
python3 "$TESTBED_ROOT/testbed/http_show.py" "$domain" "$http_port" --job
printf '\nBrowsers resolve *.localhost to this machine: http://%s:%s/\n' "$domain" "$http_port"
printf 'Log in:  ssh -i .testbed/ssh/id_ed25519 -p %s deploy@127.0.0.1\n' "$ssh_port"
printf 'Remove:  make demo-down\n'
