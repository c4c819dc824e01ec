#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.run_lock: the lock that keeps two runs of one app apart."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: run_lock
short_description: Take, renew, release or read the lock of an application on a host
description:
  - One lock per application and host, kept in C(/var/lib/flaskops/locks/<name>.json)
    (root only). It records who holds it (controller user and host, playbook,
    version, since when, a message) and until when it holds unless renewed.
  - C(state=acquired) takes the lock when it is free, when the caller holds
    it already (same token), or when its holder stopped renewing it and its
    lease ran out. The lock is then taken over and the stale holder is
    returned. Otherwise it returns the holder and takes nothing.
  - C(state=renewed) extends the caller's lease; C(state=released) removes
    the caller's lock (any lock with C(force)); C(state=status) reads it.
  - The action plugin of the same name waits for the lock, and keeps it
    renewed while its run lives; use it rather than this module alone.
version_added: 1.0.0
options:
  name:
    description: The lock's name (the application's).
    type: str
    required: true
  state:
    description: What to do.
    type: str
    choices: [acquired, renewed, released, status]
    default: status
  token:
    description: The holder's identity (one per run).
    type: str
    default: ""
  holder:
    description: What others are told of the holder.
    type: dict
    default: {}
  lease:
    description: Seconds the lock holds without being renewed; 0 holds until released.
    type: int
    default: 60
  force:
    description: With C(state=released), remove the lock whoever holds it.
    type: bool
    default: false
  folder:
    description: Where the locks are kept.
    type: path
    default: /var/lib/flaskops/locks
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Read the lock of hello
  flaskops.stack.run_lock:
    name: hello
  register: __lock
"""

RETURN = r"""
acquired:
  description: Whether the caller holds the lock now.
  returned: always
  type: bool
lock:
  description: The lock as it is now (holder, since, expires, token), or null when free.
  returned: always
  type: dict
took_over:
  description: The stale lock the caller took over, or null.
  returned: always
  type: dict
now:
  description: The host's time, in seconds since the epoch.
  returned: always
  type: float
"""


import fcntl
import json
import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule


def read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            lock = json.load(handle)
    except (FileNotFoundError, ValueError):
        return None
    return lock if isinstance(lock, dict) and lock.get("token") else None


def write(path, lock):
    folder = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".lock.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(lock, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.rename(temporary, path)


def stale(lock, now):
    return lock is not None and lock.get("expires") is not None and lock["expires"] < now


def change(folder, name, state, token="", holder=None, lease=60, force=False, now=None, check=False):
    """Apply STATE to the lock NAME; returns (changed, result)."""
    now = time.time() if now is None else now
    if check and not os.path.isdir(folder):
        return state == "acquired", {"acquired": state == "acquired", "lock": None, "took_over": None, "now": now}
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, f"{name}.json")
    with open(os.path.join(folder, f".{name}.guard"), "a", encoding="utf-8") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        lock = read(path)
        result = {"acquired": bool(lock and token and lock["token"] == token), "lock": lock,
                  "took_over": None, "now": now}
        if state == "acquired":
            if lock is None or lock["token"] == token or stale(lock, now):
                new = {"token": token, "holder": holder or {}, "lease": lease,
                       "since": lock["since"] if lock and lock["token"] == token else now,
                       "renewed": now, "expires": now + lease if lease > 0 else None}
                if lock and lock["token"] != token:
                    result["took_over"] = lock
                if not check:
                    write(path, new)
                result.update(acquired=True, lock=new)
                return lock is None or lock["token"] != token, result
            return False, result
        if state == "renewed":
            if lock and lock["token"] == token:
                lock.update(renewed=now, expires=now + lock["lease"] if lock.get("lease", 0) > 0 else None)
                if not check:
                    write(path, lock)
                result.update(acquired=True, lock=lock)
            return False, result
        if state == "released":
            if lock and (force or lock["token"] == token):
                if not check:
                    os.unlink(path)
                result.update(acquired=False, lock=None)
                return True, result
            return False, result
        return False, result


def main():
    module = AnsibleModule(argument_spec={
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["acquired", "renewed", "released", "status"], "default": "status"},
        "token": {"type": "str", "default": "", "no_log": False},
        "holder": {"type": "dict", "default": {}},
        "lease": {"type": "int", "default": 60},
        "force": {"type": "bool", "default": False},
        "folder": {"type": "path", "default": "/var/lib/flaskops/locks"},
    }, supports_check_mode=True)
    params = module.params
    if not params["name"] or "/" in params["name"] or params["name"].startswith("."):
        module.fail_json(msg="name must be a plain name: %s" % params["name"])
    if params["state"] in ("acquired", "renewed") and not params["token"]:
        module.fail_json(msg="a token is needed to hold a lock")
    changed, result = change(params["folder"], params["name"], params["state"], params["token"],
                             params["holder"], params["lease"], params["force"], check=module.check_mode)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
