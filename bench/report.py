"""Write the figures of bench.py's results into docs/benchmarks.md and draw
docs/deploy-latency.png.

The generated part of docs/benchmarks.md sits between the markers
"<!-- bench:begin -->" and "<!-- bench:end -->"; a run with variants also
rewrites the part between "<!-- tuning:begin -->" and "<!-- tuning:end -->".
The rest of the page is written by hand and left alone.

usage: report.py RESULTS.json DOCS_FOLDER
"""

import json
import re
import sys
from pathlib import Path

# What docs/benchmarks.md compares each figure with: the goal set for it.
GOALS = {
    "ours_over_gunicorn": 0.95,
    "ours_over_tutorial": 1.15,
    "static_nginx_over_flask": 15.0,
    "noop_seconds": 8.0,
    "two_apps_noop_seconds": 12.0,
    "code_only_seconds": 8.0,
    "kept_beside_slow_clients": 0.9,
}
# Tasks of deploy.yml that mark its phases on the drawing.
PHASES = [
    ("build the release", "Create the release's virtualenv", "Check that the WSGI application loads"),
    ("gate beside the live service", "Start the release beside the live service", "Stop the gate and close its socket"),
    ("hand-over", "Hand gunicorn over", "Hand gunicorn over"),
]


def ratio(a, b):
    return round(a / b, 2) if b else float("nan")


def mark(value, goal, higher_is_better=True):
    met = value >= goal if higher_is_better else value <= goal
    return "met" if met else "not met"


def goals_table(results):
    serving, static, converge = results["serving"], results["static"], results["converge"]
    rows = []
    for page, label in (("hello", "hello app (nothing per request)"), ("notes", "notes page (template + query)")):
        for c in (16, 64):
            ours = serving[f"{page}/ours/c{c}"]["rps"]
            value = ratio(ours, serving[f"{page}/gunicorn/c{c}"]["rps"])
            rows.append((f"our site / gunicorn alone, {label}, {c} connections", f"{value:.2f}",
                         f">= {GOALS['ours_over_gunicorn']}", mark(value, GOALS["ours_over_gunicorn"])))
    for page, label in (("hello", "hello app"), ("notes", "notes page")):
        for c in (16, 64):
            value = ratio(serving[f"{page}/ours/c{c}"]["rps"], serving[f"{page}/tutorial/c{c}"]["rps"])
            rows.append((f"our site / the tutorial's site, {label}, {c} connections", f"{value:.2f}",
                         f">= {GOALS['ours_over_tutorial']}", mark(value, GOALS["ours_over_tutorial"])))
    for size in ("small", "large"):
        value = ratio(static[f"{size}/nginx"]["rps"], static[f"{size}/flask"]["rps"])
        rows.append((f"static file by nginx / by Flask, {size}", f"{value:.1f}x",
                     f">= {GOALS['static_nginx_over_flask']:.0f}x", mark(value, GOALS["static_nginx_over_flask"])))
    for key, label in (("noop", "no-op re-run of site.yml, one host"),
                       ("two_apps_noop", "no-op re-run, two apps on one host"),
                       ("code_only", "code-only deploy (deploy.yml)")):
        value = converge[key]["seconds"]
        goal = GOALS[f"{key}_seconds"]
        rows.append((label, f"{value:.1f} s", f"<= {goal:.0f} s", mark(value, goal, higher_is_better=False)))
    slow = results.get("slow_clients")
    if slow:
        value = ratio(slow["ours/slow"]["rps"], slow["ours/alone"]["rps"])
        goal = GOALS["kept_beside_slow_clients"]
        rows.append((f"our site's throughput beside {slow['slow_clients']} slow clients / without them",
                     f"{value:.2f}", f">= {goal}", mark(value, goal)))
    lines = ["| figure | measured | goal | |", "|---|---:|---:|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines


def slow_clients_table(results):
    """Ordinary clients' throughput without and beside the slow ones."""
    slow = results.get("slow_clients")
    if not slow:
        return ["(not measured in this run)"]
    lines = ["| target | answers/s, alone | answers/s, beside slow clients | kept | failed beside them |",
             "|---|---:|---:|---:|---:|"]
    for target, name in (("ours", "our site"), ("gunicorn", "gunicorn alone")):
        alone, beside = slow[f"{target}/alone"], slow[f"{target}/slow"]
        lines.append(f"| {name} | {alone['rps']:,.0f} | {beside['rps']:,.0f} | {ratio(beside['rps'], alone['rps']):.2f} "
                     f"| {beside['failed']:,} |")
    return lines


def figures_row(cells, figures, baseline, ratio_format, suffix=""):
    """A table row: CELLS, then requests/s, p50, p99 and the ratio to BASELINE requests/s."""
    against = format(ratio(figures["rps"], baseline), ratio_format) + suffix
    return (f"| {' | '.join(map(str, cells))} | {figures['rps']:,.0f} | {figures['p50_ms']:.2f} "
            f"| {figures['p99_ms']:.2f} | {against} |")


def serving_table(results):
    serving = results["serving"]
    lines = ["| page | connections | site | requests/s | p50 ms | p99 ms | against gunicorn alone |",
             "|---|---:|---|---:|---:|---:|---:|"]
    names = {"ours": "our site (nginx)", "tutorial": "tutorial's site (same nginx)", "gunicorn": "gunicorn alone"}
    for page in ("hello", "notes"):
        for c in (16, 64):
            bare = serving[f"{page}/gunicorn/c{c}"]["rps"]
            for target in ("ours", "tutorial", "gunicorn"):
                lines.append(figures_row((page, c, names[target]), serving[f"{page}/{target}/c{c}"], bare, ".2f"))
    return lines


def static_table(results):
    static = results["static"]
    lines = ["| file | served by | requests/s | p50 ms | p99 ms | nginx against Flask |",
             "|---|---|---:|---:|---:|---:|"]
    labels = {"small": "hello.css (104 bytes)", "large": "bench-1m.bin (1 MiB)"}
    for size in ("small", "large"):
        flask = static[f"{size}/flask"]["rps"]
        for target in ("nginx", "flask"):
            served_by = "nginx" if target == "nginx" else "Flask (gunicorn)"
            lines.append(figures_row((labels[size], served_by), static[f"{size}/{target}"], flask, ".1f", "x"))
    return lines


def converge_tables(results):
    converge = results["converge"]
    noop = converge["noop"]
    lines = ["| run | seconds (median) | runs | tasks ok / changed / skipped |", "|---|---:|---|---|"]
    for key, label in (("first", "first site.yml on a fresh host"), ("noop", "no-op re-run of site.yml"),
                       ("noop_plain_ssh", "no-op re-run, no pipelining, no connection reuse"),
                       ("code_only", "code-only deploy, deploy.yml"), ("two_apps_noop", "no-op re-run, two apps")):
        entry = converge[key]
        shown = ", ".join(f"{run['seconds']:.1f}" for run in entry["runs"])
        tasks = f"{entry['ok']} / {entry['changed']} / {entry['skipped']}"
        lines.append(f"| {label} | {entry['seconds']:.1f} | {shown} | {tasks} |")
    plain = ratio(converge["noop_plain_ssh"]["seconds"], noop["seconds"])
    lines += ["", f"Without pipelining and connection reuse the no-op run takes {plain:.2f} times as long."]
    for key, label in (("first", "first run"), ("noop", "no-op re-run"), ("code_only", "code-only deploy")):
        lines += ["", f"Slowest tasks of the {label}:", "", "| task | seconds |", "|---|---:|"]
        lines += [f"| {t['task'].replace('|', '/')} | {t['seconds']:.2f} |" for t in converge[key]["slowest"]]
    return lines


def tuning_table(results):
    lines = ["| variant | page | our site, requests/s: defaults -> variant | change | our site / gunicorn alone: defaults -> variant |",
             "|---|---|---|---:|---|"]
    for name, variant in results["variants"].items():
        for page in ("hello", "notes"):
            before, after = variant["defaults"], variant["serving"]
            key, bare = f"{page}/ours/c16", f"{page}/gunicorn/c16"
            change = (after[key]["rps"] / before[key]["rps"] - 1) * 100
            against = (f"{ratio(before[key]['rps'], before[bare]['rps']):.2f} -> "
                       f"{ratio(after[key]['rps'], after[bare]['rps']):.2f}") if bare in after else "not measured"
            lines.append(f"| {name} | {page} | {before[key]['rps']:,.0f} -> {after[key]['rps']:,.0f} | {change:+.0f}% "
                         f"| {against} |")
    return lines


def phase_spans(tasks):
    spans = []
    for label, first, last in PHASES:
        starts = [t["started_at"] for t in tasks if t["task"].split(" : ", 1)[-1].startswith(first)]
        ends = [t["ended_at"] for t in tasks if t["task"].split(" : ", 1)[-1].startswith(last)]
        if starts and ends:
            spans.append((label, min(starts), max(ends)))
    return spans


def draw(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    deploy = results["deploy"]
    samples = deploy["samples"]
    began = min(t["started_at"] for t in deploy["tasks"])
    ended = max(t["ended_at"] for t in deploy["tasks"])
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    ok = [(s[0] - began, s[1]) for s in samples if s[2]]
    bad = [(s[0] - began, s[1]) for s in samples if not s[2]]
    ax.scatter([x for x, _ignored in ok], [y for _ignored, y in ok], s=4, color="#1f77b4", label="request answered 200", zorder=3)
    if bad:
        ax.scatter([x for x, _ignored in bad], [y for _ignored, y in bad], s=30, marker="x", color="#d62728", label="failed",
                   zorder=4)
    colours = ["#ffdd99", "#c7e9c0", "#fcbba1"]
    for (label, start, end), colour in zip(phase_spans(deploy["tasks"]), colours):
        ax.axvspan(start - began, max(end, start + 0.3) - began, color=colour, alpha=0.8, label=label, zorder=1)
    ax.axvline(0, color="grey", linestyle="--", linewidth=1)
    ax.axvline(ended - began, color="grey", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("seconds since deploy.yml started (dashed: start and end of the run)")
    ax.set_ylabel("latency of each request, ms (log)")
    report = deploy["report"]
    ax.set_title(f"Requests through nginx during a deploy (3 s import) under wrk -c8: "
                 f"{report['sent']} sampled, {report['failed']} failed, max {report['max_ms']:.0f} ms", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, markerscale=2)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def variants_took(results):
    """How much of the run the opt-in variants took, when there were any."""
    names = list(results.get("variants") or {})
    if not names:
        return ""
    return (f", of which the variants ({', '.join(names)}) took "
            f"{results.get('variants_seconds', 0) / 60:.1f}")


def concurrency_table(results):
    """Answers and failures at each number of clients, nginx's peak memory."""
    figures = results.get("concurrency")
    if not figures:
        return ["(not measured in this run)"]
    clients = sorted({int(key.split("/")[1]) for key in figures if "/" in key})
    lines = ["| clients | target | answered | failed (non-2xx / socket errors) | nginx memory, peak |",
             "|---:|---|---:|---:|---:|"]
    names = {"ours": "our site", "gunicorn": "gunicorn alone", "tutorial": "the tutorial's nginx"}
    for count in clients:
        for target in ("ours", "gunicorn", "tutorial"):
            row = figures.get(f"{target}/{count}")
            if not row:
                continue
            memory = f"{row['nginx_peak_kib'] / 1024:.1f} MiB" if "nginx_peak_kib" in row else "-"
            lines.append(f"| {count:,} | {names[target]} | {row['answers']:,} | {row['failed']:,} "
                         f"({row['non_2xx']:,} / {row['socket_errors']:,}) | {memory} |")
    held = {target: max([c for c in clients if figures.get(f"{target}/{c}", {}).get("failed", 1) == 0], default=0)
            for target in ("ours", "gunicorn", "tutorial")}
    idle = figures["idle"]
    top = max(clients)
    # nginx.conf's directives as set (comments dropped), then the kernel's cap.
    settings = [line.strip().rstrip(";") for line in figures["limits"] if line.strip() and not line.strip().startswith("#")]
    per_connection = (figures.get(f"ours/{top}", {}).get("nginx_peak_kib", 0) - idle["ours_nginx_kib"]) / top
    lines += ["", "Most clients held with 0 failed: " + ", ".join(
        f"{names[target]} {count:,}" if count else f"{names[target]} none of these" for target, count in held.items())
        + f". Idle, our nginx holds {idle['ours_nginx_kib'] / 1024:.1f} MiB (its connection slots allocated) and "
        f"the tutorial's {idle['tutorial_nginx_kib'] / 1024:.1f} MiB; at {top:,} clients ours grew by "
        f"{per_connection:.1f} KiB per client. Limits of our site on this host: "
        f"{', '.join(f'`{setting}`' for setting in settings[:-1])}, net.core.somaxconn {settings[-1]}."]
    return lines


def replace_between(text, name, lines):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = "\n".join([begin, *lines, end])
    if begin in text:
        return re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    return text.rstrip("\n") + "\n\n" + block + "\n"


def main():
    results = json.loads(Path(sys.argv[1]).read_text())
    docs = Path(sys.argv[2])
    machine = results["machine"]
    deploy = results["deploy"]["report"]
    lines = [
        f"Result of {results['date']}: {machine['cpus']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, "
        f"Linux {machine['kernel']}; the host is Debian {machine['suite']} with {machine['nginx']}, "
        f"{machine['gunicorn']}; {machine['ansible']}. Serving figures are medians of {results['rounds']} "
        f"wrk runs of {results['seconds_per_wrk_run']} s (-t2) inside the host over loopback; converge figures "
        f"medians of the runs listed, over SSH on 127.0.0.1. The whole run took "
        f"{results['bench_seconds'] / 60:.1f} minutes{variants_took(results)}.",
        "", "### Against the goals", "", *goals_table(results),
        "", "### Serving: our site, a tutorial's site and gunicorn alone", "", *serving_table(results),
        "", "### Static files: nginx against Flask", "", *static_table(results),
        "", "### Converge and deploy times", "", *converge_tables(results),
        "", "### Latency across a deploy", "",
        f"deploy.yml of a new release of hello made to take 3 s to import took {results['deploy']['seconds']:.0f} s; "
        f"a loop sampled {deploy['sent']} requests through nginx meanwhile ({deploy['failed']} failed; "
        f"p50 {deploy['p50_ms']} ms, p99 {deploy['p99_ms']} ms, max {deploy['max_ms']} ms) while wrk kept 8 "
        "connections busy.", "", "![latency across a deploy](deploy-latency.png)",
        "", "### Many clients at once", "",
        f"wrk with that many keep-alive clients for {results.get('concurrency', {}).get('seconds', 15)} s "
        "(-t2, 30 s timeout) inside the host; a failure is an answer other than 2xx/3xx or a socket error.",
        "", *concurrency_table(results),
        "", "### Slow clients", "",
        f"16 ordinary clients (wrk -c16, {results.get('slow_clients', {}).get('seconds', 5)} s, the hello app) alone, "
        f"then beside {results.get('slow_clients', {}).get('slow_clients', 64)} slow clients "
        "(`bench/slow_clients.py`: half send their request 4 bytes every half second, half read a 1 MiB "
        "answer 64 bytes every half second), turn by turn in every round; medians of the rounds, failures summed. "
        "nginx holds a slow client for the price of a connection and hands gunicorn whole requests; "
        "gunicorn's sync workers, alone, each wait on one slow client.",
        "", *slow_clients_table(results),
    ]
    page = docs / "benchmarks.md"
    text = replace_between(page.read_text(), "bench", lines)
    if results.get("variants"):
        text = replace_between(text, "tuning", [f"Result of {results['date']}, 16 connections, medians of "
                                                f"{results['rounds']}:", "", *tuning_table(results)])
    page.write_text(text)
    draw(results, docs / "deploy-latency.png")
    print(f"wrote {page} and {docs / 'deploy-latency.png'}")


if __name__ == "__main__":
    main()
