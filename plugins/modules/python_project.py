#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.python_project: what a Python project declares it needs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: python_project
short_description: Read a project's build requirements from its pyproject.toml
description:
  - Reads a release's C(pyproject.toml) and reports the requirements its
    build backend needs (C([build-system] requires)), which flask_app
    builds into the wheelhouse beside the dependencies, so a release is
    installed without an index.
  - PEP 518's default (C(setuptools>=40.8.0)) stands when the file names
    none, or when the host's Python (before 3.11) has no TOML reader.
  - Never changes anything; runs in check mode too.
version_added: 1.0.0
options:
  path:
    description: The project's C(pyproject.toml).
    type: path
    required: true
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Read the project's build requirements
  flaskops.stack.python_project:
    path: /srv/hello/releases/0123456789abcdef0123456789abcdef01234567/pyproject.toml
  register: __project
"""

RETURN = r"""
build_requires:
  description: The build requirements, as written.
  returned: always
  type: list
  elements: str
  sample: ["setuptools>=61", "wheel"]
"""


import os

from ansible.module_utils.basic import AnsibleModule

DEFAULT_BUILD_REQUIRES = ["setuptools>=40.8.0"]


def build_requires(path):
    try:
        import tomllib
    except ImportError:  # Python before 3.11 has no TOML reader
        return list(DEFAULT_BUILD_REQUIRES)
    with open(path, "rb") as handle:
        project = tomllib.load(handle)
    requires = project.get("build-system", {}).get("requires", DEFAULT_BUILD_REQUIRES)
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ValueError("[build-system] requires must be a list of strings")
    return list(requires)


def main():
    module = AnsibleModule(argument_spec={
        "path": {"type": "path", "required": True},
    }, supports_check_mode=True)
    path = module.params["path"]
    if not os.path.isfile(path):
        module.fail_json(msg=f"{path} is not a file")
    try:
        found = build_requires(path)
    except (ValueError, OSError) as error:
        module.fail_json(msg=f"{path} cannot be read: {error}")
    module.exit_json(changed=False, build_requires=found)


if __name__ == "__main__":
    main()
