#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.python_project: what a Python project declares it needs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: python_project
short_description: Read what a Python project needs, pins and runs on
description:
  - Reads a release's C(pyproject.toml) and reports the requirements its
    build backend needs (C([build-system] requires)), which flask_app
    builds into the wheelhouse beside the dependencies, so a release is
    installed without an index.
  - PEP 518's default (C(setuptools>=40.8.0)) stands when the file names
    none, when there is no such file, or when the host's Python (before
    3.11) has no TOML reader.
  - With O(lock), reads a C(uv.lock) or C(poetry.lock) and reports the
    version it locks for each package from an index, as pins pip installs
    as constraints.
  - With O(python), runs that interpreter for its version and checks it
    against the project's C(requires-python) and O(version_file)
    (C(.python-version)), reporting what does not match.
  - Never changes anything; runs in check mode too.
version_added: 1.0.0
options:
  path:
    description: The project's C(pyproject.toml); it may be missing.
    type: path
    required: true
  lock:
    description: The project's C(uv.lock) or C(poetry.lock), told apart by name; empty for none.
    type: path
    default: ""
  python:
    description: The interpreter the release runs with; empty skips the version checks.
    type: path
    default: ""
  version_file:
    description: The project's C(.python-version); it may be missing.
    type: path
    default: ""
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
pins:
  description: C(name==version) for each package the lock file locks from an index.
  returned: always
  type: list
  elements: str
  sample: ["flask==3.1.3", "six==1.16.0"]
python_version:
  description: The version of O(python), or an empty string.
  returned: always
  type: str
requires_python:
  description: The project's C(requires-python), or an empty string.
  returned: always
  type: str
python_problem:
  description: Why O(python) does not suit the project, or an empty string.
  returned: always
  type: str
"""


import os
import re

from ansible.module_utils.basic import AnsibleModule

DEFAULT_BUILD_REQUIRES = ["setuptools>=40.8.0"]


def load_toml(path):
    """The TOML file at PATH, or None when it is missing or cannot be read here."""
    try:
        import tomllib
    except ImportError:  # Python before 3.11 has no TOML reader
        return None
    if not path or not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def build_requires(path):
    project = load_toml(path)
    if project is None:
        return list(DEFAULT_BUILD_REQUIRES)
    requires = project.get("build-system", {}).get("requires", DEFAULT_BUILD_REQUIRES)
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ValueError("[build-system] requires must be a list of strings")
    return list(requires)


# Where a locked package comes from that pip cannot take as a pin.
NOT_FROM_AN_INDEX = ("editable", "virtual", "directory", "path", "git", "url", "file")


def lock_pins(path):
    """name==version for each package of a uv.lock or poetry.lock locked from an index."""
    lock = load_toml(path)
    if lock is None:
        if path and os.path.isfile(path):
            raise ValueError("this host's Python has no TOML reader (3.11 or later has one)")
        return []
    pins = []
    for package in lock.get("package", []):
        name, version = package.get("name"), package.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise ValueError("a [[package]] has no name or version")
        source = package.get("source") or {}
        kind = source.get("type", "") if os.path.basename(path) == "poetry.lock" else next(iter(source), "registry")
        if kind in NOT_FROM_AN_INDEX:
            continue
        pins.append(f"{name}=={version}")
    # A package locked at two versions (one per platform or Python) cannot
    # be one pip constraint: pip resolves it from the requirements.
    counts = {}
    for pin in pins:
        key = re.sub(r"[-_.]+", "-", pin.split("==")[0]).lower()
        counts[key] = counts.get(key, 0) + 1
    pins = [pin for pin in pins if counts[re.sub(r"[-_.]+", "-", pin.split("==")[0]).lower()] == 1]
    return sorted(pins, key=str.lower)


# The spellings of a CPython version in .python-version (pyenv, uv): 3.12,
# 3.12.4, 3.13t, python3.12, cpython-3.12.4-linux-x86_64-gnu. Others
# (system, pypy3.10, a virtualenv's name) name no version to check.
PYTHON_VERSION = re.compile(r"(?:c?python-?)?(?P<number>\d+(?:\.\d+){1,2})(?:[abrc]+\d+)?t?(?:[-+].*)?")


def python_fit(module, python, project_file, version_file):
    """(version, requires_python, problem) of the interpreter PYTHON for the project."""
    rc, out, err = module.run_command([python, "-c", "import platform; print(platform.python_version())"])
    if rc != 0:
        return "", "", f"{python} does not run: {err.strip()}"
    version = out.strip()
    project = load_toml(project_file) or {}
    requires = str(project.get("project", {}).get("requires-python", "") or "")
    if requires:
        try:
            from packaging.specifiers import InvalidSpecifier, SpecifierSet
        except ImportError:
            return version, requires, ""
        try:
            if version not in SpecifierSet(requires):
                return version, requires, (f"pyproject.toml asks for Python {requires} (requires-python); "
                                           f"{python} is {version}")
        except InvalidSpecifier:
            return version, requires, f"pyproject.toml's requires-python {requires!r} is not a version specifier"
    if version_file and os.path.isfile(version_file):
        with open(version_file, encoding="utf-8") as handle:
            wanted = next((line.strip() for line in handle if line.strip() and not line.startswith("#")), "")
        asked = PYTHON_VERSION.fullmatch(wanted)
        # Its major and minor version: the patch level is the system's.
        if asked and asked.group("number").split(".")[:2] != version.split(".")[:2]:
            return version, requires, f".python-version asks for {wanted}; {python} is {version}"
    return version, requires, ""


def main():
    module = AnsibleModule(argument_spec={
        "path": {"type": "path", "required": True},
        "lock": {"type": "path", "default": ""},
        "python": {"type": "path", "default": ""},
        "version_file": {"type": "path", "default": ""},
    }, supports_check_mode=True)
    params = module.params
    try:
        found = build_requires(params["path"])
    except (ValueError, OSError) as error:
        module.fail_json(msg=f"{params['path']} cannot be read: {error}")
    try:
        pins = lock_pins(params["lock"])
    except (ValueError, OSError) as error:
        module.fail_json(msg=f"{params['lock']} cannot be read: {error}")
    version, requires, problem = ("", "", "")
    if params["python"]:
        version, requires, problem = python_fit(module, params["python"], params["path"], params["version_file"])
    module.exit_json(changed=False, build_requires=found, pins=pins, python_version=version,
                     requires_python=requires, python_problem=problem)


if __name__ == "__main__":
    main()
