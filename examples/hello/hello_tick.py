"""The scheduled job of the example: notes when it ran, and from which
release, in instance/ticks.jsonl, which GET /ticks answers with.

    python hello_tick.py [SECONDS]     SECONDS: how long the job takes (0)
"""

import json
import os
import sys
import time

from hello import RELEASE

TICKS = os.path.join(os.environ.get("HELLO_INSTANCE", "instance"), "ticks.jsonl")


def main():
    started = time.time()
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
    with open(TICKS, "a", encoding="utf-8") as ticks:
        ticks.write(json.dumps({"release": RELEASE, "started": started, "finished": time.time()}) + "\n")


if __name__ == "__main__":
    main()
