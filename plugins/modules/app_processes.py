#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.app_processes: an application's worker units, in one read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: app_processes
short_description: Read an application's process units and the release each instance runs
description:
  - Reads, in one call, the process units (workers) of an application that
    the collection installed (template units named C(<prefix><process>@.service)
    that hold O(marker)), every instance of them systemd knows or starts at
    boot, and for each running instance the release it runs (which its
    launcher noted in the instance's runtime folder) and when it started.
  - An instance is C(stale) when it runs another release than the one O(link)
    names, was started before one of O(files) or its unit file last changed,
    or is failing (restarting, failed); it has to be restarted to run what is
    live. A stopped instance is not stale; it has to be started.
  - With O(expect), says whether each of those instances is active and has
    run without a restart for O(settle) seconds.
  - Never changes anything; runs in check mode too.
version_added: 1.0.0
options:
  link:
    description: The application folder's C(current) link.
    type: path
    required: true
  prefix:
    description: The units' name up to the process name, C(<application>-).
    type: str
    required: true
  marker:
    description: A line every unit the collection wrote holds.
    type: str
    required: true
  files:
    description: Files the instances read when they start (the environment file).
    type: list
    elements: path
    default: []
  expect:
    description: Instances (C(<prefix><process>@<n>.service)) that must be up.
    type: list
    elements: str
    default: []
  settle:
    description: Seconds each instance of O(expect) must have run for without a restart.
    type: int
    default: 0
  units_dir:
    description: Where the unit files are.
    type: path
    default: /etc/systemd/system
  runtime_dir:
    description:
      - Where the instances' runtime folders are, C(<prefix><process>-<n>), each
        holding the file C(release) its launcher wrote when it started.
    type: path
    default: /run
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Read the workers of hello
  flaskops.stack.app_processes:
    link: /srv/hello/current
    prefix: hello-
    marker: "# flaskops.stack process of hello"
    files:
      - /srv/hello/shared/hello.env
  register: workers
"""

RETURN = r"""
release:
  description: The release O(link) points to, or an empty string.
  returned: always
  type: str
units:
  description: The unit files found, by process name, with their path.
  returned: always
  type: dict
timers:
  description:
    - The timers of scheduled jobs found (C(<prefix><name>.timer) holding
      O(marker)), by name, with the C(path) of the timer and of its C(service).
  returned: always
  type: dict
instances:
  description:
    - Each instance, by unit name, with C(process), C(index), C(active) (its
      C(ActiveState)), C(enabled) (its C(UnitFileState)), C(pid), C(release),
      C(started) (seconds since the epoch, 0 when not running) and C(stale).
  returned: always
  type: dict
settled:
  description: Whether every instance of O(expect) is active and has run for O(settle) seconds.
  returned: always
  type: bool
unsettled:
  description: The instances of O(expect) that are not, each with what is wrong.
  returned: always
  type: dict
now:
  description: The host's time, in seconds since the epoch.
  returned: always
  type: float
"""


import glob
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

INSTANCE = re.compile(r"(?P<process>[a-z][a-z0-9_]*)@(?P<index>[0-9]+)\.service")


def find_marked(units_dir, prefix, suffix, marker):
    """The unit files <prefix><name><suffix> holding MARKER: {name: path}."""
    found = {}
    for path in sorted(glob.glob(os.path.join(units_dir, glob.escape(prefix) + "*" + suffix))):
        try:
            with open(path, encoding="utf-8") as handle:
                if marker in handle.read().splitlines():
                    found[os.path.basename(path)[len(prefix):-len(suffix)]] = path
        except OSError:
            continue
    return found


def find_units(units_dir, prefix, marker):
    """The process unit files holding MARKER, by process name."""
    return {name: {"path": path, "mtime": os.stat(path).st_mtime}
            for name, path in find_marked(units_dir, prefix, "@.service", marker).items()}


def find_timers(units_dir, prefix, marker):
    """The timer units holding MARKER, by timer name."""
    return {name: {"path": path, "service": path[:-len(".timer")] + ".service"}
            for name, path in find_marked(units_dir, prefix, ".timer", marker).items()}


def instance_names(module, units_dir, prefix, units):
    """Every instance of UNITS that systemd has loaded or that starts at boot."""
    names = set()
    for wants in glob.glob(os.path.join(units_dir, "*.wants", glob.escape(prefix) + "*@*.service")):
        names.add(os.path.basename(wants))
    patterns = [f"{prefix}{process}@*.service" for process in units]
    if patterns:
        rc, out, _err = module.run_command(["systemctl", "list-units", "--all", "--plain", "--no-legend",
                                            "--type=service", *patterns])
        if rc == 0:
            names.update(line.split()[0] for line in out.splitlines() if line.split())
    found = {}
    for name in names:
        match = INSTANCE.fullmatch(name[len(prefix):]) if name.startswith(prefix) else None
        if match and match.group("process") in units:
            found[name] = {"process": match.group("process"), "index": int(match.group("index"))}
    return found


def show(module, names):
    """systemctl show of NAMES, by unit name."""
    if not names:
        return {}
    rc, out, err = module.run_command(["systemctl", "show", "--timestamp=unix",
                                       "--property=Id,ActiveState,UnitFileState,MainPID,ExecMainStartTimestamp",
                                       *names])
    if rc != 0:
        module.fail_json(msg=f"systemctl show failed: {err.strip()}")
    shown, current = {}, {}
    for line in out.splitlines() + [""]:
        if not line.strip():
            if current.get("Id"):
                shown[current["Id"]] = current
            current = {}
            continue
        key, _sep, value = line.partition("=")
        current[key] = value
    return shown


def running_release(runtime_dir, name):
    """The release the instance NAME noted when it started (its launcher
    writes it into the unit's runtime folder, removed when it stops)."""
    folder = name[:-len(".service")].replace("@", "-")
    try:
        with open(os.path.join(runtime_dir, folder, "release"), encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def read(params, module):
    link = params["link"]
    release = os.path.realpath(link) if os.path.lexists(link) and os.path.isdir(link) else ""
    units = find_units(params["units_dir"], params["prefix"], params["marker"])
    found = instance_names(module, params["units_dir"], params["prefix"], units)
    for name in params["expect"]:
        match = INSTANCE.fullmatch(name[len(params["prefix"]):]) if name.startswith(params["prefix"]) else None
        if match:
            found.setdefault(name, {"process": match.group("process"), "index": int(match.group("index"))})
    shown = show(module, sorted(found))
    changed_files = [os.stat(path).st_mtime for path in params["files"] if os.path.exists(path)]
    now = time.time()
    for name, instance in found.items():
        state = shown.get(name, {})
        pid = int(state.get("MainPID") or 0)
        started = state.get("ExecMainStartTimestamp", "")
        started = float(started[1:]) if started.startswith("@") and pid else 0.0
        unit = units.get(instance["process"], {})
        newer = changed_files + ([unit["mtime"]] if unit else [])
        instance.update(active=state.get("ActiveState", "inactive"), enabled=state.get("UnitFileState", ""),
                        pid=pid, release=running_release(params["runtime_dir"], name) if pid else "",
                        started=started)
        # Running what is no longer live, or failing (restarting, failed):
        # restarted. Stopped: started.
        instance["stale"] = instance["active"] != "inactive" and (
            not pid or instance["release"] != release or any(mtime > started for mtime in newer))
    unsettled = {}
    for name in params["expect"]:
        instance = found.get(name, {})
        if instance.get("active") != "active" or not instance.get("pid"):
            unsettled[name] = f"not running ({instance.get('active', 'unknown')})"
        elif now - instance["started"] < params["settle"]:
            unsettled[name] = f"up for {now - instance['started']:.0f} s of {params['settle']} s"
    return {"release": release, "units": {name: {"path": unit["path"]} for name, unit in units.items()},
            "timers": find_timers(params["units_dir"], params["prefix"], params["marker"]),
            "instances": found, "settled": not unsettled, "unsettled": unsettled, "now": now}


def main():
    module = AnsibleModule(argument_spec={
        "link": {"type": "path", "required": True},
        "prefix": {"type": "str", "required": True},
        "marker": {"type": "str", "required": True},
        "files": {"type": "list", "elements": "path", "default": []},
        "expect": {"type": "list", "elements": "str", "default": []},
        "settle": {"type": "int", "default": 0},
        "units_dir": {"type": "path", "default": "/etc/systemd/system"},
        "runtime_dir": {"type": "path", "default": "/run"},
    }, supports_check_mode=True)
    module.exit_json(changed=False, **read(module.params, module))


if __name__ == "__main__":
    main()
