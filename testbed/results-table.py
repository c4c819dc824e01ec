"""Print the measured figures of the latest test run as a Markdown table.

The scenarios' tests keep them in .testbed/results/<scenario>.jsonl (the
``record`` fixture of molecule/conftest.py); docs/security.md quotes this
table. Only the latest run of each check on each host is shown.

usage: python3 testbed/results-table.py [RESULTS_FOLDER]
"""

import json
import sys
from pathlib import Path


def main(folder):
    latest = {}
    for path in sorted(Path(folder).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            latest[(path.stem, entry["check"], entry["host"])] = entry
    print("| scenario | check | host | figures | at |")
    print("|---|---|---|---|---|")
    for (scenario, check, host), entry in sorted(latest.items()):
        figures = ", ".join(f"{k} {v}" for k, v in entry.items() if k not in ("check", "host", "at"))
        print(f"| {scenario} | {check} | {host.removeprefix('flaskops-')} | {figures} | {entry['at']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".testbed/results"))
