#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.foreign_units: unit files of given names that a role did not write."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: foreign_units
short_description: Find unit files of given names that a role did not write
description:
  - For each unit name, looks in every folder systemd reads units from and
    reports the unit files that are not the role's own, a distribution's
    or the administrator's, which a unit of that name would replace.
  - A role's own unit is a regular file in C(/etc/systemd/system) holding
    O(marker). A link there (a masked unit, say) is never the role's.
  - Never changes anything; runs in check mode too.
version_added: 1.0.0
options:
  units:
    description: The unit names (C(hello.service), C(hello.socket)...).
    type: list
    elements: str
    required: true
  marker:
    description: The line a unit file the role wrote holds.
    type: str
    required: true
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Look for units of the same names the role did not write
  flaskops.stack.foreign_units:
    units: [hello.service, hello.socket]
    marker: "# flaskops.stack.gunicorn: "
  register: __foreign
"""

RETURN = r"""
found:
  description: The paths of the unit files the role did not write, in the order of O(units).
  returned: always
  type: list
  elements: str
  sample: [/usr/lib/systemd/system/ssh.service]
"""


import os

from ansible.module_utils.basic import AnsibleModule

UNIT_FOLDERS = ("/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
                "/usr/lib/systemd/system", "/lib/systemd/system")


def ours(path, marker):
    if not os.path.isfile(path) or os.path.islink(path):
        return False
    with open(path, encoding="utf-8", errors="replace") as handle:
        return marker in handle.read()


def foreign_units(units, marker, folders=UNIT_FOLDERS):
    """The unit files named UNITS that do not carry MARKER (paths)."""
    found = []
    for unit in units:
        for folder in folders:
            path = os.path.join(folder, unit)
            if not os.path.lexists(path):
                continue
            if folder == folders[0] and ours(path, marker):
                continue
            if os.path.realpath(path) not in map(os.path.realpath, found):
                found.append(path)
    return found


def main():
    module = AnsibleModule(argument_spec={
        "units": {"type": "list", "elements": "str", "required": True},
        "marker": {"type": "str", "required": True},
    }, supports_check_mode=True)
    marker = module.params["marker"]
    if not marker.strip():
        module.fail_json(msg="marker must not be empty: every unit file would count as the role's")
    module.exit_json(changed=False, found=foreign_units(module.params["units"], marker))


if __name__ == "__main__":
    main()
