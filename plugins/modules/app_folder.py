#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.app_folder: which application, if any, a folder belongs to."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: app_folder
short_description: Tell which application a folder belongs to, following links
description:
  - The flask_app role marks the root folder of each application it deploys
    with a file (C(.flaskops-app)) that holds the application's name. This
    module reads a folder and reports, with every link resolved, whether it
    exists, what it holds, the mark it carries, the marked application root
    it lies in (and that root's live release), and the marked roots below it.
  - flask_app refuses a root folder that holds anything and belongs to no
    application or to another one. nginx_proxy refuses a static folder that
    would serve an application's code, data or history.
  - Never changes anything; runs in check mode too.
version_added: 1.0.0
options:
  path:
    description: The absolute path of the folder to read.
    type: str
    required: true
  marker:
    description: Name of the file that marks an application's root folder.
    type: str
    default: .flaskops-app
  depth:
    description: How many levels below the folder to look for marked roots.
    type: int
    default: 3
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Read the application's root folder
  flaskops.stack.app_folder:
    path: /srv/hello
  register: __root
"""

RETURN = r"""
exists:
  description: Whether the path exists (after following links).
  returned: always
  type: bool
is_dir:
  description: Whether it is a folder.
  returned: always
  type: bool
realpath:
  description: The path with every link resolved.
  returned: always
  type: str
entries:
  description: The names the folder holds, sorted (at most 100).
  returned: always
  type: list
  elements: str
marker:
  description: The application named by the folder's own mark, or null.
  returned: always
  type: str
owner_root:
  description: The nearest marked folder the resolved path lies in (itself included), or an empty string.
  returned: always
  type: str
owner_app:
  description: The application that folder is marked for, or an empty string.
  returned: always
  type: str
live_release:
  description: Where the owner root's current link resolves to, or an empty string.
  returned: always
  type: str
roots_below:
  description: Marked folders below the path, down to O(depth) levels.
  returned: always
  type: list
  elements: str
"""


import os

from ansible.module_utils.basic import AnsibleModule

ENTRY_LIMIT = 100


def read_mark(folder, marker):
    try:
        with open(os.path.join(folder, marker), encoding="utf-8") as handle:
            return handle.read(256).strip()
    except (FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError):
        return None


def owner_of(path, marker):
    """The nearest marked folder PATH lies in, and its mark."""
    folder = path
    while True:
        mark = read_mark(folder, marker)
        if mark is not None:
            return folder, mark
        parent = os.path.dirname(folder)
        if parent == folder:
            return "", ""
        folder = parent


def roots_below(path, marker, depth):
    found = []
    if depth < 1 or not os.path.isdir(path):
        return found
    for top, folders, _files in os.walk(path):
        level = top[len(path):].count(os.sep)
        if top != path and read_mark(top, marker) is not None:
            found.append(top)
            folders[:] = []
            continue
        # Code and virtualenvs are deep and hold no roots.
        folders[:] = sorted(name for name in folders if name not in (".git", ".venv", "node_modules"))
        if level + 1 >= depth:
            folders[:] = []
    return sorted(found)


def describe(path, marker=".flaskops-app", depth=3):
    real = os.path.realpath(path)
    exists = os.path.exists(real)
    is_dir = os.path.isdir(real)
    entries = sorted(os.listdir(real))[:ENTRY_LIMIT] if is_dir else []
    root, app = owner_of(real if exists else os.path.normpath(path), marker)
    live = ""
    if root:
        current = os.path.join(root, "current")
        live = os.path.realpath(current) if os.path.islink(current) else ""
    return {
        "exists": exists, "is_dir": is_dir, "realpath": real, "entries": entries,
        "marker": read_mark(real, marker) if is_dir else None,
        "owner_root": root, "owner_app": app, "live_release": live,
        "roots_below": roots_below(real, marker, depth) if is_dir else [],
    }


def main():
    module = AnsibleModule(argument_spec={
        "path": {"type": "str", "required": True},
        "marker": {"type": "str", "default": ".flaskops-app"},
        "depth": {"type": "int", "default": 3},
    }, supports_check_mode=True)
    path = module.params["path"]
    if not os.path.isabs(path):
        module.fail_json(msg="path must be absolute: %s" % path)
    if "/" in module.params["marker"]:
        module.fail_json(msg="marker must be a file name")
    try:
        result = describe(path, module.params["marker"], module.params["depth"])
    except OSError as error:
        module.fail_json(msg="cannot read %s: %s" % (path, error.strerror))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
