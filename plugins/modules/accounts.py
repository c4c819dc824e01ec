#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.accounts: the passwd and group entries of several names, in one call."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: accounts
short_description: Read the user and group entries of several names at once
description:
  - Looks each name up in the system's user and group databases (through
    NSS, as C(getent) does) and returns the entries found, in the shape
    M(ansible.builtin.getent) gives them, in one call instead of one per name.
  - flask_app reads the application's user and group and its build user
    before anything changes, to refuse accounts that belong to something else.
  - Never changes anything; runs in check mode too.
version_added: 1.0.0
options:
  users:
    description: User names to look up in the user database.
    type: list
    elements: str
    default: []
  groups:
    description: Group names to look up in the group database.
    type: list
    elements: str
    default: []
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Look up the application's accounts
  flaskops.stack.accounts:
    users: [hello, hello-build]
    groups: [hello, hello-build]
  register: __accounts
"""

RETURN = r"""
users:
  description:
    - Each user name asked for, mapped to its entry without the name
      (password field, uid, gid, comment, home, shell, as text), or to an
      empty list when there is no such user.
  returned: always
  type: dict
groups:
  description:
    - Each group name asked for, mapped to its entry without the name
      (password field, gid, members joined by commas, as text), or to an
      empty list when there is no such group.
  returned: always
  type: dict
"""


import grp
import pwd

from ansible.module_utils.basic import AnsibleModule


def user_entry(name):
    """NAME's user entry as getent lists it after the name, or [] when there is none."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return []
    return [entry.pw_passwd, str(entry.pw_uid), str(entry.pw_gid), entry.pw_gecos, entry.pw_dir, entry.pw_shell]


def group_entry(name):
    """NAME's group entry as getent lists it after the name, or [] when there is none."""
    try:
        entry = grp.getgrnam(name)
    except KeyError:
        return []
    return [entry.gr_passwd, str(entry.gr_gid), ",".join(entry.gr_mem)]


def read(users, groups):
    return {"users": dict((name, user_entry(name)) for name in users),
            "groups": dict((name, group_entry(name)) for name in groups)}


def main():
    module = AnsibleModule(argument_spec={
        "users": {"type": "list", "elements": "str", "default": []},
        "groups": {"type": "list", "elements": "str", "default": []},
    }, supports_check_mode=True)
    module.exit_json(changed=False, **read(module.params["users"], module.params["groups"]))


if __name__ == "__main__":
    main()
