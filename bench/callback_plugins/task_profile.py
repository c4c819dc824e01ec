"""Time each task of a run and write the slowest to a file (bench only).

Enabled by the bench scripts with ANSIBLE_CALLBACK_PLUGINS pointing here and
ANSIBLE_CALLBACKS_ENABLED=task_profile. TASK_PROFILE_FILE names the JSON file
written at the end of the run: every task's name, role and seconds (from its
start on the first host to its last result), slowest first, with the
wall-clock time it started and ended (for drawing a run's timeline).
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_profile
type: aggregate
short_description: seconds per task, written as JSON for the benchmarks
description:
  - Writes every task's wall-clock seconds, slowest first, to TASK_PROFILE_FILE.
requirements:
  - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_profile"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._tasks = []
        self._current = None

    def _close(self):
        if self._current is not None:
            self._current["seconds"] = round(time.monotonic() - self._current.pop("start"), 3)
            self._current["ended_at"] = round(time.time(), 3)
            self._tasks.append(self._current)
            self._current = None

    def _open(self, task):
        self._close()
        role = task._role.get_name() if task._role else ""
        self._current = {"task": task.get_name(), "role": role, "start": time.monotonic(),
                         "started_at": round(time.time(), 3)}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._open(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._open(task)

    def v2_playbook_on_stats(self, stats):
        self._close()
        path = os.environ.get("TASK_PROFILE_FILE")
        if not path:
            return
        tasks = sorted(self._tasks, key=lambda t: t["seconds"], reverse=True)
        with open(path, "w", encoding="utf-8") as out:
            json.dump({"tasks": tasks, "total": round(sum(t["seconds"] for t in tasks), 3)}, out, indent=1)
