#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.service_state: what a service runs with, in one read."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: service_state
short_description: Read a service's release, files, record, units and account
description:
  - Reads, in one call, what gunicorn needs of the host before and after a
    hand-over; where the application folder's link points, whether the
    release to run is a folder, the SHA-256 of the files the service runs
    with, the record of what it was last started with, whether its units
    are active and enabled, and whether its user and group exist.
  - The answer's C(now) is what a record of the service started now would
    say; the role compares it with C(record) to find a run cut short after
    a switch, and writes it as the new record once the service is live.
  - Never changes anything; runs in check mode too.
version_added: 1.0.0
options:
  link:
    description: The application folder's C(current) link (or the folder itself).
    type: path
    required: true
  release:
    description: The release to run; the link's target when empty.
    type: path
    default: ""
  files:
    description:
      - Files to checksum, by name. The names C(environment), C(config),
        C(unit) and C(helper) go into C(now).
    type: dict
    default: {}
  record:
    description: The JSON record of what the service was last started with.
    type: path
    required: true
  units:
    description: systemd units whose C(ActiveState) and C(UnitFileState) to read.
    type: list
    elements: str
    default: []
  user:
    description: The service's user.
    type: str
    required: true
  group:
    description: The service's group.
    type: str
    required: true
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Read the service's state and the files it runs with
  flaskops.stack.service_state:
    link: /srv/hello/current
    files:
      environment: /etc/flaskops/hello.env
      config: /etc/gunicorn/hello.conf.py
    record: /etc/gunicorn/hello.started
    units: [hello.service, hello.socket]
    user: hello
    group: hello
  register: __state
"""

RETURN = r"""
live:
  description: Where the link points (absolute), the folder itself, or an empty string.
  returned: always
  type: str
release:
  description: The release to run (O(release), or RV(live) when it is empty).
  returned: always
  type: str
release_is_dir:
  description: Whether RV(release) is a folder.
  returned: always
  type: bool
sha256:
  description: For each of O(files), its SHA-256, or an empty string when it is not a file.
  returned: always
  type: dict
now:
  description: What a record of the service started now would hold.
  returned: always
  type: dict
record:
  description: The record read (an empty dictionary when there is none or it is not JSON).
  returned: always
  type: dict
units:
  description: For each of O(units), C(active) (its ActiveState) and C(enabled) (its UnitFileState).
  returned: always
  type: dict
user:
  description: Whether O(user) exists.
  returned: always
  type: bool
group:
  description: Whether O(group) exists.
  returned: always
  type: bool
"""


import grp
import hashlib
import json
import os
import pwd

from ansible.module_utils.basic import AnsibleModule

RECORDED = ("environment", "config", "unit", "helper")


def link_target(path):
    """Where the link PATH points (absolute, only its own level resolved);
    PATH itself when it is a folder; "" when there is nothing."""
    if os.path.islink(path):
        return os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    return path if os.path.isdir(path) else ""


def sha256(path):
    if not path or not os.path.isfile(path):
        return ""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def exists(lookup, name):
    try:
        lookup(name)
    except KeyError:
        return False
    return True


def read_record(path):
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (FileNotFoundError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def unit_states(units, show):
    """{unit: {active, enabled}}; SHOW(unit) answers systemctl show's lines."""
    found = {}
    for unit in units:
        props = dict(line.partition("=")[::2] for line in show(unit).splitlines() if "=" in line)
        found[unit] = {"active": props.get("ActiveState", ""), "enabled": props.get("UnitFileState", "")}
    return found


def host_state(link, release, files, record, units, user, group, show):
    live = link_target(link)
    release = release or live
    sums = {name: sha256(path) for name, path in files.items()}
    return {
        "live": live,
        "release": release,
        "release_is_dir": bool(release) and os.path.isdir(release),
        "sha256": sums,
        "now": {"release": live, **{f"{name}_sha256": sums.get(name, "") for name in RECORDED}},
        "record": read_record(record),
        "units": unit_states(units, show),
        "user": exists(pwd.getpwnam, user),
        "group": exists(grp.getgrnam, group),
    }


def main():
    module = AnsibleModule(argument_spec={
        "link": {"type": "path", "required": True},
        "release": {"type": "path", "default": ""},
        "files": {"type": "dict", "default": {}},
        "record": {"type": "path", "required": True},
        "units": {"type": "list", "elements": "str", "default": []},
        "user": {"type": "str", "required": True},
        "group": {"type": "str", "required": True},
    }, supports_check_mode=True)
    params = module.params
    systemctl = module.get_bin_path("systemctl", required=bool(params["units"]))

    def show(unit):
        rc, out, err = module.run_command([systemctl, "show", "--property=ActiveState,UnitFileState", unit])
        return out if rc == 0 else ""

    module.exit_json(changed=False, **host_state(
        params["link"], params["release"] or "", {k: str(v or "") for k, v in params["files"].items()},
        params["record"], params["units"], params["user"], params["group"], show))


if __name__ == "__main__":
    main()
