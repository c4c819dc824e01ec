#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.paths_state: read the state of many paths in one call."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: paths_state
short_description: Read the state of many paths on the host in one call
description:
  - Reports, for each path, whether it exists, its type, owner, group and
    mode, the checksum of a regular file's content, a link's target as
    written and resolved, and on request a small file's text.
  - The roles read every file and folder they manage with one call at the
    start of a phase and skip the tasks whose path already is as wanted
    (see the C(flaskops.stack.path_differs) filter), so a run that changes
    nothing costs one round trip instead of one per path. A path that
    differs is still handled by its own task, with its check mode and diff.
  - Never changes anything; runs in check mode too.
version_added: 1.0.0
options:
  paths:
    description: The absolute paths to read. Links are not followed.
    type: list
    elements: str
    required: true
  checksum:
    description:
      - Whether to report the checksum of regular files. Off for paths that
        may hold secrets and whose content is not compared.
    type: bool
    default: true
  checksum_algorithm:
    description: The hash of the reported checksums.
    type: str
    choices: [sha1, sha256]
    default: sha1
  read:
    description:
      - Paths among O(paths) whose text is reported as C(content) (up to 64
        KiB; never a file that may hold a secret).
    type: list
    elements: str
    default: []
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Read the files the role manages
  flaskops.stack.paths_state:
    paths: [/etc/nginx/nginx.conf, /etc/nginx/sites-enabled/default]
  register: __files
"""

RETURN = r"""
paths:
  description: For each path asked for, what the host has.
  returned: always
  type: dict
  sample:
    /etc/nginx/nginx.conf:
      exists: true
      type: file
      owner: root
      group: root
      mode: "0644"
      checksum: 0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33
      target: null
      resolved: null
      content: null
"""


import grp
import hashlib
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

READ_LIMIT = 64 * 1024


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def read(path, hashed=True, algorithm="sha1", text=False):
    """What the host has at PATH, without following a link."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return {"exists": False, "type": None, "owner": None, "group": None, "mode": None,
                "checksum": None, "target": None, "resolved": None, "content": None}
    kind = ("link" if stat.S_ISLNK(info.st_mode) else "directory" if stat.S_ISDIR(info.st_mode)
            else "file" if stat.S_ISREG(info.st_mode) else "other")
    checksum = content = None
    if hashed and kind == "file":
        digest = hashlib.new(algorithm)
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(65536), b""):
                digest.update(chunk)
        checksum = digest.hexdigest()
    if text and kind == "file" and info.st_size <= READ_LIMIT:
        with open(path, "rb") as handle:
            content = handle.read().decode("utf-8", "replace")
    return {"exists": True, "type": kind,
            "owner": _name(pwd.getpwuid, info.st_uid), "group": _name(grp.getgrgid, info.st_gid),
            "mode": "%04o" % stat.S_IMODE(info.st_mode), "checksum": checksum,
            "target": os.readlink(path) if kind == "link" else None,
            "resolved": os.path.realpath(path) if kind == "link" else None, "content": content}


def main():
    module = AnsibleModule(argument_spec={
        "paths": {"type": "list", "elements": "str", "required": True},
        "checksum": {"type": "bool", "default": True},
        "checksum_algorithm": {"type": "str", "choices": ["sha1", "sha256"], "default": "sha1"},
        "read": {"type": "list", "elements": "str", "default": []},
    }, supports_check_mode=True)
    params = module.params
    bad = [path for path in params["paths"] + params["read"] if not os.path.isabs(path)]
    if bad:
        module.fail_json(msg="paths must be absolute: %s" % ", ".join(bad))
    result = {}
    for path in params["paths"] + [path for path in params["read"] if path not in params["paths"]]:
        try:
            result[path] = read(path, params["checksum"], params["checksum_algorithm"], path in params["read"])
        except OSError as error:
            module.fail_json(msg="cannot read %s: %s" % (path, error.strerror))
    module.exit_json(changed=False, paths=result)


if __name__ == "__main__":
    main()
