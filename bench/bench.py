"""What users pay for the stack, measured side by side on one fresh test-bed host.

`make bench` runs this. It starts a Debian test host (a local container
reached over SSH on 127.0.0.1, like the demo), deploys the examples with the
project's playbooks, and measures, in one run:

1. converge: the first site.yml on the fresh host, a no-op re-run, the same
   without SSH pipelining and connection reuse, a code-only deploy, and a
   no-op re-run with two applications on the host; the slowest tasks of
   each (bench/callback_plugins/task_profile.py);
2. serving: requests per second and p50/p99 latency with wrk inside the
   host over loopback, for the hello app (nothing to do per request) and the
   notes app's /notes page (a template and a database query), through our
   site, through a tutorial's site in the same nginx, and to gunicorn alone,
   at two concurrency levels, interleaved round by round;
3. static files: a small and a large file from nginx and from Flask;
4. variants: the same pages under other settings, each against the
   defaults measured in the same run (BENCH_VARIANTS; see VARIANTS);
5. a deploy under load: every request's latency while deploy.yml runs,
   drawn as docs/deploy-latency.png with the deploy's phases;
6. concurrency: 1,000, 4,000 and 10,000 keep-alive clients at once (wrk,
   15 s, 30 s timeout) against our site, gunicorn alone and a tutorial's
   nginx (Debian's stock nginx.conf and the tutorial's site, a second nginx
   on port 8082): answers, failures (a non-2xx/3xx answer or a socket
   error) and the peak memory of nginx's processes;
7. slow clients: the throughput of 16 ordinary clients (wrk) through our
   site and to gunicorn alone, without and then with 64 slow clients
   (bench/slow_clients.py) trickling requests and reading answers slowly,
   turn by turn in every round.

Traffic never leaves the host's loopback. Results go to
.testbed/bench/results.json; bench/report.py writes docs/benchmarks.md.

usage: bench.py   (settings from the environment: BENCH_ROUNDS, default 3;
                   BENCH_SECONDS per wrk run, default 3; BENCH_SUITE, default
                   bookworm; BENCH_SSH_PORT, default 2299; BENCH_VARIANTS, a
                   comma-separated list of VARIANTS names, default none: the
                   variants add about 4 minutes each)
"""

import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("TESTBED_STATE", ROOT / ".testbed"))
WORK = STATE / "bench"
HOST = "flaskops-bench"
SUITE = os.environ.get("BENCH_SUITE", "bookworm")
SSH_PORT = os.environ.get("BENCH_SSH_PORT", "2299")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "3"))
# Two applications' no-op runs take twice as long: fewer of them.
TWO_APP_ROUNDS = max(1, ROUNDS - 1)
CONCURRENCY = (16, 64)
SITE = ROOT / "playbooks" / "site.yml"
DEPLOY = ROOT / "playbooks" / "deploy.yml"
TWO_APPS = ROOT / "bench" / "two-apps.yml"

# What is requested, and where: our site (nginx on 80), a tutorial's site in
# the same nginx (8081, bench/tutorial-site.conf) and gunicorn alone.
PAGES = {
    "hello": {"path": "/", "host": "hello.test", "gunicorn": 8000},
    "notes": {"path": "/notes", "host": "notes.test", "gunicorn": 8001},
}
TARGETS = {"ours": 80, "tutorial": 8081}
STATIC = {"small": "/static/hello.css", "large": "/static/bench-1m.bin"}
# Concurrent clients, and where they go: our site, gunicorn alone, and the
# tutorial's nginx (bench/tutorial-nginx.conf) with its pid file.
CLIENTS = tuple(int(n) for n in os.environ.get("BENCH_CLIENTS", "1000,4000,10000").split(","))
CROWD_SECONDS = int(os.environ.get("BENCH_CROWD_SECONDS", "15"))
# Slow clients (bench/slow_clients.py) and how long the ordinary ones are
# measured beside them.
SLOW_CLIENTS = int(os.environ.get("BENCH_SLOW_CLIENTS", "64"))
SLOW_SECONDS = 5
CROWD_TARGETS = {"ours": (80, "/run/nginx.pid"), "gunicorn": (8000, None), "tutorial": (8082, "/run/nginx-tutorial.pid")}

# Settings tried against the defaults: extra variables for two-apps.yml
# (both applications), or a change made by hand on the host and undone
# after. The pages are measured through our site and to gunicorn alone,
# round by round, under the variant and then under the defaults again.
ACCESS_LOG = "access_log /var/log/nginx/access.log"
GZIP_LEVEL = "gzip_comp_level"
VARIANTS = {
    # The default before the benchmarks (10000 now).
    "max-requests-1000": {"vars": {"gunicorn_max_requests": 1000, "gunicorn_max_requests_jitter": 100}},
    "gthread": {"vars": {"gunicorn_worker_class": "gthread", "gunicorn_threads": 4}},
    "workers-3": {"vars": {"gunicorn_workers": 3}},
    # hello only (site.yml), through our site only: gunicorn alone is not
    # on a TCP port then.
    "unix-socket": {"vars": {"gunicorn_bind": "unix:/run/flaskops-hello.sock",
                             "nginx_proxy_upstreams": ["unix:/run/flaskops-hello.sock"]},
                    "playbook": "site", "targets": ["ours"]},
    # What gzip's level costs a page that is compressed (the notes page; hello
    # is under gzip_min_length), both runs asking for gzip as browsers do.
    "gzip-level-1": {
        "host": f"sed -i 's/{GZIP_LEVEL} 5;/{GZIP_LEVEL} 1;/' /etc/nginx/sites-available/*.conf",
        "undo": f"sed -i 's/{GZIP_LEVEL} 1;/{GZIP_LEVEL} 5;/' /etc/nginx/sites-available/*.conf",
        "headers": ["Accept-Encoding: gzip"],
    },
    "access-log-buffered": {
        "host": f"sed -i 's#{ACCESS_LOG};#{ACCESS_LOG} combined buffer=64k flush=5s;#' /etc/nginx/nginx.conf",
        "undo": f"sed -i 's#{ACCESS_LOG} combined buffer=64k flush=5s;#{ACCESS_LOG};#' /etc/nginx/nginx.conf",
    },
}


def log(message):
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(argv, **options):
    return subprocess.run(argv, check=True, text=True, capture_output=True, **options).stdout


def on_host(command):
    """Run a shell command as root on the bench host."""
    return run(["podman", "exec", HOST, "sh", "-c", command])


def write_inventory():
    key = STATE / "ssh" / "id_ed25519"
    inventory = {
        "all": {
            "children": {"app": {"hosts": {HOST: None}}, "web": {"hosts": {HOST: None}}},
            "hosts": {HOST: {
                "ansible_host": "127.0.0.1", "ansible_port": int(SSH_PORT), "ansible_user": "deploy",
                "ansible_private_key_file": str(key),
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            }},
            "vars": {
                "flask_app_name": "hello", "flask_app_repo": "/srv/git/hello.git", "flask_app_version": "v1",
                "flask_app_wsgi_app": "hello:app", "flask_app_env": {"HELLO_TRUSTED_HOPS": "1"},
                "flask_app_secret_env": {"SECRET_KEY": "bench-secret"},
                "nginx_proxy_server_name": "hello.test",
                "nginx_proxy_static_dir": "/srv/hello/current/static",
            },
        },
    }
    (WORK / "hosts.yml").write_text(json.dumps(inventory, indent=1))


def playbook(path, *args, env=None, profile=None):
    """Run PATH against the bench host: (seconds, recap counts)."""
    environment = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                       ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "bench" / "callback_plugins"),
                       ANSIBLE_CALLBACKS_ENABLED="task_profile",
                       TASK_PROFILE_FILE=str(profile or WORK / "profile-last.json"))
    environment.update(env or {})
    started = time.monotonic()
    result = subprocess.run(["ansible-playbook", "-i", str(WORK / "hosts.yml"), str(path), *args],
                            cwd=ROOT, env=environment, text=True, capture_output=True, check=False)
    seconds = round(time.monotonic() - started, 2)
    (WORK / "last-run.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        sys.exit(f"[bench] {path.name} {' '.join(args)} failed: see {WORK / 'last-run.log'}")
    recap = re.search(rf"^{HOST}\s*:\s*ok=(\d+)\s+changed=(\d+).*?skipped=(\d+)", result.stdout, re.M)
    return seconds, {"ok": int(recap[1]), "changed": int(recap[2]), "skipped": int(recap[3])}


def slowest(profile, count=8):
    tasks = json.loads(Path(profile).read_text())["tasks"]
    return [{"task": t["task"], "seconds": t["seconds"]} for t in tasks[:count]]


def start_host():
    log(f"a fresh Debian {SUITE} host, {HOST}, SSH on 127.0.0.1:{SSH_PORT}")
    instance = str(ROOT / "testbed" / "instance.sh")
    subprocess.run([instance, "down", HOST], capture_output=True, check=False)
    run([instance, "up", HOST, SUITE, "--ssh-port", SSH_PORT])
    playbook(ROOT / "testbed" / "seed-app-repo.yml")
    run(["podman", "cp", str(ROOT / "testbed" / "request_loop.py"), f"{HOST}:/usr/local/bin/request_loop.py"])


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def repeat(count, path, args=lambda n: (), env=None, profile=None, unchanged=False):
    """COUNT runs of PATH (run n with args(n)): each run's seconds and recap,
    the median seconds, the last run's task counts and, with a profile, its
    slowest tasks. With ``unchanged``, every run must change nothing."""
    runs = []
    for n in range(1, count + 1):
        seconds, recap = playbook(path, *args(n), env=env, profile=profile)
        if unchanged:
            assert recap["changed"] == 0, recap
        runs.append({"seconds": seconds, **recap})
    counts = {key: value for key, value in runs[-1].items() if key != "seconds"}
    entry = {"runs": runs, **counts, "seconds": median_of(runs, "seconds")}
    if profile:
        entry["slowest"] = slowest(profile)
    return entry


def measure_converge():
    """The Ansible side: seconds per run, medians of ROUNDS."""
    results = {}
    log("converge: first site.yml on the fresh host")
    results["first"] = repeat(1, SITE, profile=WORK / "profile-first.json")

    results["noop"] = repeat(ROUNDS, SITE, profile=WORK / "profile-noop.json", unchanged=True)
    log(f"converge: no-op re-runs {[r['seconds'] for r in results['noop']['runs']]}")

    # Without pipelining (a file copied per module) and without reusing one
    # SSH connection (a new login per task): one run, it takes several times
    # as long.
    plain = {"ANSIBLE_PIPELINING": "False", "ANSIBLE_SSH_ARGS": "-o ControlMaster=no"}
    results["noop_plain_ssh"] = repeat(1, SITE, env=plain, unchanged=True)
    log(f"converge: no-op without pipelining and connection reuse {results['noop_plain_ssh']['seconds']}")

    results["code_only"] = repeat(ROUNDS, DEPLOY, args=lambda n: ("-e", f"flask_app_version=bench-{n}"),
                                  profile=WORK / "profile-code-only.json")
    log(f"converge: code-only deploys {[r['seconds'] for r in results['code_only']['runs']]}")

    log("converge: notes beside hello (two-apps.yml), then no-op re-runs")
    results["two_apps_first"] = repeat(1, TWO_APPS)
    results["two_apps_noop"] = repeat(TWO_APP_ROUNDS, TWO_APPS, profile=WORK / "profile-two-apps.json",
                                      unchanged=True)
    log(f"converge: two apps, no-op {[r['seconds'] for r in results['two_apps_noop']['runs']]}")
    return results


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(port, path, host, connections, seconds=None, headers=()):
    """One wrk run inside the host: requests/s, p50 and p99 in ms."""
    url = f"http://127.0.0.1:{port}{path}"
    extra = "".join(f" -H {shlex.quote(header)}" for header in headers)
    out = on_host(f"wrk -t2 -c{connections} -d{seconds or SECONDS}s --latency "
                  f"-H {shlex.quote('Host: ' + host)}{extra} {shlex.quote(url)}")
    if re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        sys.exit(f"[bench] {url} answered with errors:\n{out}")

    def percentile(label):
        value, unit = re.search(rf"^\s+{label}%\s+([0-9.]+)(us|ms|s)$", out, re.M).groups()
        return round(float(value) * UNITS[unit], 3)
    return {"rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out)[1]),
            "p50_ms": percentile(50), "p99_ms": percentile(99)}


def summarise(samples):
    """The median of each figure over the rounds."""
    return {key: round(statistics.median(s[key] for s in samples), 3) for key in ("rps", "p50_ms", "p99_ms")}


def prepare_serving():
    log("serving: wrk, the tutorial's site on port 8081, 200 notes, a 1 MiB static file")
    on_host("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null")
    run(["podman", "cp", str(ROOT / "bench" / "tutorial-site.conf"),
         f"{HOST}:/etc/nginx/sites-enabled/bench-tutorial.conf"])
    on_host("nginx -t -q && systemctl reload nginx")
    on_host("for n in $(seq 200); do curl -s -o /dev/null --fail -H 'Host: notes.test' "
            "--data \"note $n: a few words of text, as a user would write them\" http://127.0.0.1/notes; done")
    on_host("head -c 1048576 /dev/urandom > /srv/hello/current/static/bench-1m.bin && "
            "chmod 0644 /srv/hello/current/static/bench-1m.bin")
    time.sleep(2)


def measure_serving(targets=("ours", "tutorial", "gunicorn"), concurrency=CONCURRENCY, headers=()):
    """Interleaved: every target once per round, so drift hits all alike."""
    samples = {}
    for n in range(ROUNDS):
        for page, spec in PAGES.items():
            for connections in concurrency:
                for target in targets:
                    port = spec["gunicorn"] if target == "gunicorn" else TARGETS[target]
                    figures = wrk(port, spec["path"], spec["host"], connections, headers=headers)
                    samples.setdefault(f"{page}/{target}/c{connections}", []).append(figures)
        log(f"serving: round {n + 1} of {ROUNDS} done")
    return {key: {**summarise(runs), "runs": runs} for key, runs in samples.items()}


def measure_static():
    samples = {}
    for _ignored in range(ROUNDS):
        for size, path in STATIC.items():
            for target, port in (("nginx", 80), ("flask", 8000)):
                samples.setdefault(f"{size}/{target}", []).append(wrk(port, path, "hello.test", 16))
    log("static: done")
    return {key: {**summarise(runs), "runs": runs} for key, runs in samples.items()}


def measure_variants(names):
    results = {}
    for name in names:
        variant = VARIANTS[name]
        log(f"variant {name}: {variant}")
        book = SITE if variant.get("playbook") == "site" else TWO_APPS
        targets = tuple(variant.get("targets", ("ours", "gunicorn")))
        headers = tuple(variant.get("headers", ()))
        # site.yml deploys what the inventory names (v1) unless told hello's release.
        keep = ["-e", "flask_app_version=bench-3"] if book == SITE else []
        if "vars" in variant:
            playbook(book, "-e", json.dumps(variant["vars"]), *keep)
        else:
            on_host(f"{variant['host']} && nginx -t -q && systemctl reload nginx")
        time.sleep(3)
        results[name] = {**variant, "serving": measure_serving(targets=targets, concurrency=(16,), headers=headers)}
        if "vars" in variant:
            playbook(book, *keep)
        else:
            on_host(f"{variant['undo']} && nginx -t -q && systemctl reload nginx")
        time.sleep(3)
        results[name]["defaults"] = measure_serving(targets=targets, concurrency=(16,), headers=headers)
    return results


def measure_deploy_latency():
    """Every request's latency while deploy.yml runs under load."""
    log("deploy under load: wrk -c8 in the background, a sampling loop, deploy.yml of v2")
    slow = json.dumps({"flask_app_version": "v2",
                       "flask_app_env": {"HELLO_TRUSTED_HOPS": "1", "HELLO_IMPORT_SECONDS": "3"}})
    on_host("rm -f /tmp/bench.stop /tmp/bench-samples.json")
    run(["podman", "exec", "-d", HOST, "sh", "-c",
         "echo $$ > /tmp/bench-wrk.pid; exec wrk -t1 -c8 -d600s -H 'Host: hello.test' http://127.0.0.1/ "
         "> /tmp/bench-wrk.txt 2>&1"])
    run(["podman", "exec", "-d", HOST, "sh", "-c",
         "python3 /usr/local/bin/request_loop.py http://127.0.0.1/ - --restarts 0 --count 5000 "
         "--interval 0.03 --timeout 30 --host hello.test --until /tmp/bench.stop "
         "--samples /tmp/bench-samples.json > /tmp/bench-loop.json 2>&1"])
    time.sleep(3)
    seconds, _ignored = playbook(DEPLOY, "-e", slow, profile=WORK / "profile-deploy.json")
    time.sleep(3)
    on_host("touch /tmp/bench.stop; kill -INT $(cat /tmp/bench-wrk.pid) || true")
    time.sleep(2)
    report = json.loads(on_host("cat /tmp/bench-loop.json"))
    samples = json.loads(on_host("cat /tmp/bench-samples.json"))
    tasks = json.loads((WORK / "profile-deploy.json").read_text())["tasks"]
    return {"seconds": seconds, "report": report, "samples": samples, "tasks": tasks}


def nginx_memory_kib(pid_file):
    """Resident memory of an nginx master and its workers, in KiB."""
    return int(on_host(f"master=$(cat {pid_file}); ps -o rss= -p $master --ppid $master | "
                       "awk '{s += $1} END {print s}'").strip() or 0)


def crowd(port, clients, pid_file):
    """wrk with CLIENTS keep-alive connections: answers, failures, and the
    peak memory of the nginx behind PORT (sampled every second)."""
    url = f"http://127.0.0.1:{port}/"
    on_host("rm -f /tmp/crowd-peak")
    if pid_file:
        run(["podman", "exec", "-d", HOST, "sh", "-c",
             f"peak=0; for i in $(seq {CROWD_SECONDS + 5}); do "
             f"m=$(ps -o rss= -p $(cat {pid_file}) --ppid $(cat {pid_file}) | awk '{{s += $1}} END {{print s}}'); "
             "[ \"$m\" -gt \"$peak\" ] && peak=$m; echo $peak > /tmp/crowd-peak; sleep 1; done"])
    out = on_host(f"ulimit -n 20000; wrk -t2 -c{clients} -d{CROWD_SECONDS}s --timeout 30s "
                  f"-H 'Host: hello.test' {url}")
    answers = int(re.search(r"(\d+) requests in", out)[1])
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = sum(int(n) for n in errors.groups()) if errors else 0
    figures = {"answers": answers, "non_2xx": int(non_2xx[1]) if non_2xx else 0, "socket_errors": socket_errors}
    figures["failed"] = figures["non_2xx"] + socket_errors
    if pid_file:
        time.sleep(2)
        figures["nginx_peak_kib"] = int(on_host("cat /tmp/crowd-peak").strip() or 0)
    return figures


def measure_concurrency():
    """CLIENTS at once against each target, after the host settles."""
    log(f"concurrency: {CLIENTS} clients for {CROWD_SECONDS} s against our site, gunicorn alone, the tutorial's nginx")
    run(["podman", "cp", str(ROOT / "bench" / "tutorial-nginx.conf"), f"{HOST}:/etc/nginx/tutorial-nginx.conf"])
    on_host("nginx -t -q -c /etc/nginx/tutorial-nginx.conf && nginx -c /etc/nginx/tutorial-nginx.conf")
    results = {"idle": {"ours_nginx_kib": nginx_memory_kib("/run/nginx.pid"),
                        "tutorial_nginx_kib": nginx_memory_kib("/run/nginx-tutorial.pid")},
               "seconds": CROWD_SECONDS, "limits": on_host(
                   "grep -E '^[[:space:]]*worker_(processes|connections|rlimit_nofile)' /etc/nginx/nginx.conf; "
                   "sysctl -n net.core.somaxconn").split("\n")}
    for clients in CLIENTS:
        for target, (port, pid_file) in CROWD_TARGETS.items():
            time.sleep(5)
            results[f"{target}/{clients}"] = crowd(port, clients, pid_file)
            log(f"concurrency: {target} at {clients} clients: {results[f'{target}/{clients}']}")
    on_host("nginx -c /etc/nginx/tutorial-nginx.conf -s quit || true")
    return results


def ordinary(port, seconds):
    """16 ordinary clients for SECONDS: answers a second (2xx only), and failures."""
    out = on_host(f"wrk -t2 -c16 -d{seconds}s --timeout 10s -H 'Host: hello.test' http://127.0.0.1:{port}/")
    answers = int(re.search(r"(\d+) requests in", out)[1])
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = (sum(int(n) for n in errors.groups()) if errors else 0) + (int(non_2xx[1]) if non_2xx else 0)
    return {"rps": round((answers - (int(non_2xx[1]) if non_2xx else 0)) / seconds, 1), "failed": failed}


def measure_slow_clients():
    """Per round and target: ordinary clients alone, then beside the slow
    ones (started 3 s before, so they hold what they can), then a pause
    once the slow ones have gone."""
    log(f"slow clients: {SLOW_CLIENTS} slow ones beside 16 ordinary ones, our site and gunicorn alone")
    run(["podman", "cp", str(ROOT / "bench" / "slow_clients.py"), f"{HOST}:/usr/local/bin/slow_clients.py"])
    samples = {}
    for _round in range(ROUNDS):
        for target, port in (("ours", 80), ("gunicorn", PAGES["hello"]["gunicorn"])):
            samples.setdefault(f"{target}/alone", []).append(ordinary(port, SLOW_SECONDS))
            run(["podman", "exec", "-d", HOST, "sh", "-c",
                 f"python3 /usr/local/bin/slow_clients.py {port} {SLOW_CLIENTS} {SLOW_SECONDS + 4} "
                 "> /tmp/slow-clients.txt 2>&1"])
            time.sleep(3)
            samples.setdefault(f"{target}/slow", []).append(ordinary(port, SLOW_SECONDS))
            time.sleep(3)
            samples.setdefault(f"{target}/slow_clients", []).append(on_host("cat /tmp/slow-clients.txt").strip())
            time.sleep(5)
    results = {"slow_clients": SLOW_CLIENTS, "seconds": SLOW_SECONDS, "runs": samples}
    for key, runs in samples.items():
        if not key.endswith("/slow_clients"):
            results[key] = {"rps": statistics.median(r["rps"] for r in runs), "failed": sum(r["failed"] for r in runs)}
    log(f"slow clients: {results}")
    return results


def machine():
    cpus = os.cpu_count()
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return {"cpus": cpus, "cpu": model, "memory_gib": memory, "kernel": platform.release(),
            "suite": SUITE, "ansible": run(["ansible", "--version"]).splitlines()[0],
            "nginx": on_host("nginx -v 2>&1").strip(),
            "gunicorn": on_host("/srv/hello/current/.venv/bin/gunicorn --version").strip()}


def main():
    WORK.mkdir(parents=True, exist_ok=True)
    names = [n for n in os.environ.get("BENCH_VARIANTS", "").split(",") if n]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        sys.exit(f"BENCH_VARIANTS: unknown {sorted(unknown)}; known: {sorted(VARIANTS)}")
    started = time.monotonic()
    write_inventory()
    start_host()
    results = {"date": time.strftime("%Y-%m-%d"), "rounds": ROUNDS, "seconds_per_wrk_run": SECONDS,
               "converge": measure_converge()}
    results["machine"] = machine()
    prepare_serving()
    results["serving"] = measure_serving()
    results["static"] = measure_static()
    variants_started = time.monotonic()
    results["variants"] = measure_variants(names)
    results["variants_seconds"] = round(time.monotonic() - variants_started)
    results["deploy"] = measure_deploy_latency()
    results["concurrency"] = measure_concurrency()
    results["slow_clients"] = measure_slow_clients()
    results["bench_seconds"] = round(time.monotonic() - started)
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    log(f"done in {results['bench_seconds']} s: {WORK / 'results.json'}")
    if os.environ.get("BENCH_KEEP_HOST") != "1":
        subprocess.run([str(ROOT / "testbed" / "instance.sh"), "down", HOST], capture_output=True, check=False)


if __name__ == "__main__":
    main()
