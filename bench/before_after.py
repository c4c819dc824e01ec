"""Run times of the playbooks at two commits, side by side on one fresh host.

`make bench-before-after BEFORE=<commit>` runs this. The collection at
BEFORE (extracted from git) and the checkout as it is take turns on the same
bench host (bench.py's: a local container reached over SSH on 127.0.0.1), run
after run, so a drift of the machine's speed touches both alike:

1. a no-op re-run of site.yml (one application);
2. a code-only deploy.yml: a new commit of hello, dependencies unchanged
   (bench-1 .. bench-6, one each);
3. a no-op re-run of bench/two-apps.yml (hello and notes on one host).

Each no-op must report changed=0, each deploy must change something. The
median seconds of each, their ratio (checkout / BEFORE) and the slowest tasks
of the checkout's last run go to .testbed/bench/before-after.json, and a
Markdown table to the standard output (docs/benchmarks.md quotes it).

usage: before_after.py COMMIT   (BENCH_ROUNDS pairs of each, default 3)
"""

import json
import os
import statistics
import subprocess
import sys

import bench

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CASES = {
    "noop": "no-op site.yml, one host",
    "code_only": "code-only deploy.yml",
    "two_apps_noop": "no-op of two apps on one host",
}


def extract(commit):
    """The collection at COMMIT, as an installed collection path: its root."""
    tree = bench.WORK / "before"
    subprocess.run(["rm", "-rf", str(tree)], check=True)
    stack = tree / "ansible_collections" / "flaskops" / "stack"
    stack.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(bench.ROOT), "archive", commit], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(stack)], input=archive.stdout, check=True)
    return tree, stack


def timed(tree, root, name, *args, unchanged):
    """One run of playbook NAME of ROOT with the collection of TREE: seconds."""
    env = {"ANSIBLE_COLLECTIONS_PATH": str(tree)}
    # Both sides write it: the checkout runs second in each pair, so it ends as its profile.
    profile = bench.WORK / f"profile-after-{name.replace('/', '-')}.json"
    seconds, recap = bench.playbook(root / name, *args, env=env, profile=profile)
    if unchanged:
        assert recap["changed"] == 0, (name, recap)
    else:
        assert recap["changed"] > 0, (name, recap)
    return seconds


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    commit = subprocess.run(["git", "-C", str(bench.ROOT), "rev-parse", "--short", sys.argv[1]],
                            check=True, capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(bench.ROOT), "rev-parse", "--short", "HEAD"],
                          check=True, capture_output=True, text=True).stdout.strip()
    bench.WORK.mkdir(parents=True, exist_ok=True)
    before_tree, before_root = extract(commit)
    # The checkout through a collection path of its own, as `make collection` links it.
    after_tree = bench.WORK / "after"
    link = after_tree / "ansible_collections" / "flaskops" / "stack"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(bench.ROOT)
    sides = {"before": (before_tree, before_root), "after": (after_tree, bench.ROOT)}

    bench.write_inventory()
    bench.start_host()
    bench.log("first site.yml (checkout), then no-op re-runs, turn by turn")
    timed(after_tree, bench.ROOT, "playbooks/site.yml", unchanged=False)
    runs = {case: {"before": [], "after": []} for case in CASES}
    for _round in range(ROUNDS):
        for side, (tree, root) in sides.items():
            runs["noop"][side].append(timed(tree, root, "playbooks/site.yml", unchanged=True))
    bench.log(f"no-op: {runs['noop']}")
    version = 0
    for _round in range(ROUNDS):
        for side, (tree, root) in sides.items():
            version += 1
            runs["code_only"][side].append(
                timed(tree, root, "playbooks/deploy.yml", "-e", f"flask_app_version=bench-{version}", unchanged=False))
    bench.log(f"code-only deploys: {runs['code_only']}")
    # bench-6 is live: two-apps.yml keeps it, and adds notes.
    keep = ("-e", f"bench_hello_version=bench-{version}")
    timed(after_tree, bench.ROOT, "bench/two-apps.yml", *keep, unchanged=False)
    for _round in range(ROUNDS):
        for side, (tree, root) in sides.items():
            runs["two_apps_noop"][side].append(timed(tree, root, "bench/two-apps.yml", *keep, unchanged=True))
    bench.log(f"two apps, no-op: {runs['two_apps_noop']}")

    results = {"before": commit, "after": head, "rounds": ROUNDS, "runs": runs,
               "medians": {case: {side: statistics.median(values) for side, values in sides_runs.items()}
                           for case, sides_runs in runs.items()}}
    results["slowest_after"] = {
        case: bench.slowest(bench.WORK / f"profile-after-{name}.json", 12)
        for case, name in (("noop", "playbooks-site.yml"), ("code_only", "playbooks-deploy.yml"),
                           ("two_apps_noop", "bench-two-apps.yml"))}
    (bench.WORK / "before-after.json").write_text(json.dumps(results, indent=1))
    print(f"| run | {commit} (before) | {head} (after) | after / before |")
    print("| --- | --- | --- | --- |")
    for case, label in CASES.items():
        medians = results["medians"][case]
        print(f"| {label} | {medians['before']:.1f} s | {medians['after']:.1f} s | "
              f"{medians['after'] / medians['before']:.2f} |")
    if os.environ.get("BENCH_KEEP_HOST") != "1":
        subprocess.run([str(bench.ROOT / "testbed" / "instance.sh"), "down", bench.HOST],
                       capture_output=True, check=False)


if __name__ == "__main__":
    main()
