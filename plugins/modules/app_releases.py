#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.app_releases: the releases of an application folder."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: app_releases
short_description: Describe the releases kept in an application folder
description:
  - Reads an application folder as flask_app lays it out (C(releases/<commit>),
    the C(current) link, C(history.json)) and reports the live release, the
    history of deploys, the releases to prune and the release a rollback
    would go to.
  - flask_app records a deploy and prunes with it once a release is live,
    and finds where C(playbooks/rollback.yml) goes.
  - Never changes anything; runs in check mode too.
version_added: 1.0.0
options:
  root:
    description: The application folder (C(flask_app_root)).
    type: path
    required: true
  keep:
    description:
      - How many releases to keep, the live one included (at least one).
        The live release and the one a rollback would go to are never
        listed for pruning.
    type: int
    required: true
  rollback_to:
    description:
      - The release a rollback should go to, instead of the one deployed
        before the latest deploy. A commit, a prefix of at least 7 of its
        characters, or the version it was deployed as (the latest such).
    type: str
    default: ""
  wheels:
    description:
      - A folder of wheelhouses (one folder each) to prune as well. Those
        beyond the O(keep) most recently used are listed in RV(prune_wheelhouses).
        Empty for none.
    type: path
    default: ""
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Read the releases on the host
  flaskops.stack.app_releases:
    root: /srv/hello
    keep: 3
  register: __releases
"""

RETURN = r"""
live:
  description: The commit the C(current) link points to, or an empty string.
  returned: always
  type: str
history:
  description: The deploys recorded, oldest first (C(release), C(version) and what else was recorded).
  returned: always
  type: list
  elements: dict
kept:
  description: The commits of the release folders on the host.
  returned: always
  type: list
  elements: str
prune:
  description: The releases beyond O(keep), those longest out of service first.
  returned: always
  type: list
  elements: str
rollback_target:
  description: The commit a rollback goes to, or an empty string when there is none.
  returned: always
  type: str
rollback_error:
  description: Why there is nothing to roll back to, when there is not.
  returned: always
  type: str
prune_wheelhouses:
  description: The paths of the folders in O(wheels) beyond the O(keep) newest (by modification time), sorted.
  returned: always
  type: list
  elements: str
"""


import json
import os
import re

from ansible.module_utils.basic import AnsibleModule

HISTORY = "history.json"
SHA = re.compile(r"[0-9a-f]{40}")
PREFIX = re.compile(r"[0-9a-f]{7,40}")


def read_history(root):
    """The recorded deploys; a missing or unreadable record counts as none."""
    try:
        with open(os.path.join(root, HISTORY), encoding="utf-8") as handle:
            entries = json.load(handle)
    except (FileNotFoundError, ValueError):
        return []
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict) and SHA.fullmatch(str(e.get("release", "")))]


def kept_releases(root):
    """{commit: mtime} of the release folders."""
    folder = os.path.join(root, "releases")
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return {}
    return {n: os.stat(os.path.join(folder, n)).st_mtime
            for n in names if SHA.fullmatch(n) and os.path.isdir(os.path.join(folder, n))}


def live_release(root):
    try:
        target = os.readlink(os.path.join(root, "current"))
    except OSError:
        return ""
    return os.path.basename(target.rstrip("/"))


def rollback_target(history, kept, live, name=""):
    """(release, reason): where a rollback goes, or why it cannot."""
    name = name.strip()
    if name:
        if PREFIX.fullmatch(name):
            matches = sorted(r for r in kept if r.startswith(name))
            if len(matches) == 1:
                return matches[0], ""
            if len(matches) > 1:
                return "", f"{name!r} names more than one kept release: {', '.join(matches)}"
        for entry in reversed(history):
            if entry.get("version") == name and entry["release"] in kept:
                return entry["release"], ""
        return "", (f"no release kept on this host was deployed as {name!r} or has a commit "
                    f"starting with it; kept: {', '.join(sorted(kept)) or 'none'}")
    if not history:
        return "", "no deploy is recorded on this host: there is nothing to roll back to"
    latest = history[-1]["release"]
    recorded = {entry["release"] for entry in history}
    if live and live not in recorded and latest in kept:
        return latest, ""  # the deploy that made the live release was cut short
    for entry in reversed(history[:-1]):
        if entry["release"] != latest:
            if entry["release"] in kept:
                return entry["release"], ""
            return "", (f"the release deployed before {latest} ({entry['release']}) is no "
                        f"longer kept on this host")
    return "", f"only one release ({latest}) was ever deployed here: there is nothing to roll back to"


def releases_to_prune(history, kept, live, keep):
    """Releases beyond KEEP, those longest out of service first."""
    order = []
    for entry in reversed(history):
        if entry["release"] in kept and entry["release"] not in order:
            order.append(entry["release"])
    # Releases the history does not know (built but never live, or older
    # than the history): newest folder first, after the recorded ones.
    order += sorted((r for r in kept if r not in order), key=lambda r: kept[r], reverse=True)
    ranked = ([live] if live in kept else []) + [r for r in order if r != live]
    return sorted(ranked[max(keep, 1):])


def wheelhouses_to_prune(wheels, keep):
    """The folders of WHEELS (hidden ones left out) beyond the KEEP newest, sorted."""
    found = {}
    try:
        with os.scandir(wheels) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                try:
                    found[entry.path] = entry.stat(follow_symlinks=False).st_mtime
                except FileNotFoundError:
                    continue
    except (FileNotFoundError, NotADirectoryError):
        return []
    newest_first = sorted(found, key=found.get, reverse=True)
    return sorted(newest_first[max(keep, 0):])


def describe_releases(root, keep, rollback_to="", wheels=""):
    history = read_history(root)
    kept = kept_releases(root)
    live = live_release(root)
    target, reason = rollback_target(history, kept, live, rollback_to)
    return {
        "live": live,
        "history": history,
        "kept": sorted(kept),
        "prune": releases_to_prune(history, kept, live, keep),
        "rollback_target": target,
        "rollback_error": reason,
        "prune_wheelhouses": wheelhouses_to_prune(wheels, keep) if wheels else [],
    }


def main():
    module = AnsibleModule(argument_spec={
        "root": {"type": "path", "required": True},
        "keep": {"type": "int", "required": True},
        "rollback_to": {"type": "str", "default": ""},
        "wheels": {"type": "path", "default": ""},
    }, supports_check_mode=True)
    params = module.params
    module.exit_json(changed=False, **describe_releases(params["root"], params["keep"], params["rollback_to"],
                                                        params["wheels"]))


if __name__ == "__main__":
    main()
