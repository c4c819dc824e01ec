"""bench/report.py: the goals a run meets or misses, and the page section it rewrites."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("report", ROOT / "bench" / "report.py")
report = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(report)


def figures(rps):
    return {"rps": rps, "p50_ms": 1.0, "p99_ms": 3.0}


def results(ours=950.0, tutorial=900.0, gunicorn=1000.0, noop=7.5):
    serving = {}
    for page in ("hello", "notes"):
        for c in (16, 64):
            serving[f"{page}/ours/c{c}"] = figures(ours)
            serving[f"{page}/tutorial/c{c}"] = figures(tutorial)
            serving[f"{page}/gunicorn/c{c}"] = figures(gunicorn)
    static = {f"{size}/{target}": figures(rps) for size in ("small", "large")
              for target, rps in (("nginx", 16000.0), ("flask", 1000.0))}
    converge = {"noop": {"seconds": noop}, "two_apps_noop": {"seconds": 20.0}, "code_only": {"seconds": 8.0}}
    return {"serving": serving, "static": static, "converge": converge}


def rows(lines):
    return {line.split(" | ")[0].lstrip("| "): line for line in lines[2:]}


def test_each_ratio_is_set_against_its_goal():
    table = rows(report.goals_table(results()))
    assert "0.95 | >= 0.95 | met" in table["our site / gunicorn alone, notes page (template + query), 16 connections"]
    # 950 / 900 = 1.06, under 1.15.
    assert "1.06 | >= 1.15 | not met" in table["our site / the tutorial's site, hello app, 64 connections"]
    assert "16.0x | >= 15x | met" in table["static file by nginx / by Flask, large"]


def test_times_meet_their_goal_when_at_most_it():
    table = rows(report.goals_table(results()))
    assert "7.5 s | <= 8 s | met" in table["no-op re-run of site.yml, one host"]
    assert "20.0 s | <= 12 s | not met" in table["no-op re-run, two apps on one host"]
    assert "8.0 s | <= 8 s | met" in table["code-only deploy (deploy.yml)"]


def test_only_the_marked_section_is_rewritten():
    page = "# Title\n\nkept\n<!-- bench:begin -->\nold figures\n<!-- bench:end -->\nkept too\n"
    text = report.replace_between(page, "bench", ["new figures"])
    assert text == "# Title\n\nkept\n<!-- bench:begin -->\nnew figures\n<!-- bench:end -->\nkept too\n"
    assert report.replace_between(text, "bench", ["again"]).count("<!-- bench:begin -->") == 1


def test_the_run_time_says_what_the_variants_took():
    assert report.variants_took({"variants": {}}) == ""
    took = report.variants_took({"variants": {"workers-3": {}, "unix-socket": {}}, "variants_seconds": 540})
    assert took == ", of which the variants (workers-3, unix-socket) took 9.0"


def test_the_slow_client_figure_is_what_our_site_keeps_beside_them():
    """Our site's throughput beside the slow clients over its throughput
    without them, against 0.9; gunicorn alone is shown for contrast."""
    measured = results()
    measured["slow_clients"] = {
        "slow_clients": 64, "seconds": 5,
        "ours/alone": {"rps": 1000.0, "failed": 0}, "ours/slow": {"rps": 950.0, "failed": 0},
        "gunicorn/alone": {"rps": 1200.0, "failed": 0}, "gunicorn/slow": {"rps": 60.0, "failed": 40}}
    table = rows(report.goals_table(measured))
    assert "0.95 | >= 0.9 | met" in table["our site's throughput beside 64 slow clients / without them"]
    lines = report.slow_clients_table(measured)
    assert lines[3] == "| gunicorn alone | 1,200 | 60 | 0.05 | 40 |"
    assert "our site's throughput beside" not in "".join(report.goals_table(results()))
