#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.htpasswd: nginx's password file for HTTP basic auth."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: htpasswd
short_description: Keep the password file of HTTP basic auth for nginx
description:
  - Writes one C(user:hash) line per user, in name order, each password
    hashed with SHA-512 crypt (C($6$), 5000 rounds), which nginx checks
    through the system's crypt().
  - A line whose hash already matches its user's password is kept as it
    is, so a run that changes no password changes nothing (a new hash
    would get a new salt each time).
  - Users the file holds and I(users) does not are removed.
  - The passwords are never returned, logged or shown in a diff; the diff
    names the users only.
  - Needs no package on the host (the hash is computed in Python).
  - Supports check mode, and diff mode (user names only).
version_added: 1.0.0
options:
  path:
    description: The password file.
    type: path
    required: true
  users:
    description: Each user name mapped to its password.
    type: dict
    default: {}
  state:
    description: C(present) writes the file; C(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description: Owner of the file.
    type: str
    default: root
  group:
    description: Group of the file (nginx's workers read it as this group).
    type: str
    default: www-data
  mode:
    description: Mode of the file.
    type: str
    default: "0640"
  backup:
    description: Keep a copy of the file it replaces or removes, named in C(backup_file).
    type: bool
    default: false
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Write the staging site's password file
  flaskops.stack.htpasswd:
    path: /etc/nginx/flaskops-auth/staging.htpasswd
    users:
      reviewer: "{{ vault_reviewer_password }}"
  no_log: true
"""

RETURN = r"""
dest:
  description: The password file.
  returned: always
  type: str
users:
  description: The user names the file holds now.
  returned: always
  type: list
  elements: str
backup_file:
  description: The copy of the replaced or removed file, when I(backup) made one.
  returned: when a file was replaced or removed with I(backup)
  type: str
"""


import hashlib
import hmac
import os
import secrets

from ansible.module_utils.basic import AnsibleModule

ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# The order SHA-512 crypt spreads the digest's bytes over its 86 characters.
ORDER = [(0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
         (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
         (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41)]


def repeated(digest, length):
    """DIGEST repeated to LENGTH bytes."""
    return (digest * (length // len(digest) + 1))[:length]


def sha512_crypt(password, salt):
    """The $6$ hash of PASSWORD (bytes) with SALT (text of at most 16 of
    ITOA64's characters), 5000 rounds, as glibc's crypt() makes it."""
    salt_bytes = salt.encode("ascii")[:16]
    alternate = hashlib.sha512(password + salt_bytes + password).digest()
    context = hashlib.sha512(password + salt_bytes)
    context.update(repeated(alternate, len(password)))
    length = len(password)
    while length:
        context.update(alternate if length & 1 else password)
        length >>= 1
    result = context.digest()
    p_bytes = repeated(hashlib.sha512(password * len(password)).digest(), len(password))
    s_bytes = repeated(hashlib.sha512(salt_bytes * (16 + result[0])).digest(), len(salt_bytes))
    for round_ in range(5000):
        context = hashlib.sha512(p_bytes if round_ & 1 else result)
        if round_ % 3:
            context.update(s_bytes)
        if round_ % 7:
            context.update(p_bytes)
        context.update(result if round_ & 1 else p_bytes)
        result = context.digest()
    text = []
    for first, second, third in ORDER + [(None, None, 63)]:
        word = ((result[first] << 16 if first is not None else 0)
                | (result[second] << 8 if second is not None else 0) | result[third])
        for _position in range(4 if first is not None else 2):
            text.append(ITOA64[word & 0x3F])
            word >>= 6
    return "$6$%s$%s" % (salt_bytes.decode("ascii"), "".join(text))


def matches(password, hashed):
    """Whether HASHED is a $6$ hash of PASSWORD (text)."""
    parts = hashed.split("$")
    if len(parts) != 4 or parts[1] != "6" or parts[2].startswith("rounds="):
        return False
    return hmac.compare_digest(sha512_crypt(password.encode("utf-8"), parts[2]), hashed)


def new_salt():
    return "".join(secrets.choice(ITOA64) for _position in range(16))


def read_entries(path):
    """The file's user: hash lines, in a dict, and its text ("" when absent)."""
    if not os.path.exists(path):
        return {}, None
    with open(path, "r", encoding="utf-8") as handle:
        text = handle.read()
    entries = {}
    for line in text.splitlines():
        user, sep, hashed = line.partition(":")
        if sep:
            entries[user] = hashed.strip()
    return entries, text


def wanted_text(users, entries):
    lines = []
    for user in sorted(users):
        password = str(users[user])
        hashed = entries.get(user, "")
        if not matches(password, hashed):
            hashed = sha512_crypt(password.encode("utf-8"), new_salt())
        lines.append("%s:%s\n" % (user, hashed))
    return "".join(lines)


def main():
    module = AnsibleModule(argument_spec={
        "path": {"type": "path", "required": True},
        "users": {"type": "dict", "default": {}, "no_log": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "owner": {"type": "str", "default": "root"},
        "group": {"type": "str", "default": "www-data"},
        "mode": {"type": "str", "default": "0640"},
        "backup": {"type": "bool", "default": False},
    }, supports_check_mode=True)
    path = module.params["path"]
    users = module.params["users"]
    for user in users:
        if not user or ":" in user or any(character.isspace() for character in user):
            module.fail_json(msg="A user name of the password file must not be empty, nor hold \":\" or a space.")
    entries, text = read_entries(path)
    result = {"changed": False, "dest": path}
    before_users = "".join(user + "\n" for user in sorted(entries)) if text is not None else ""

    if module.params["state"] == "absent":
        result["users"] = []
        if text is not None:
            result["changed"] = True
            result["diff"] = {"before": before_users, "after": "", "before_header": path, "after_header": path}
            if not module.check_mode:
                if module.params["backup"]:
                    result["backup_file"] = module.backup_local(path)
                os.remove(path)
        module.exit_json(**result)

    wanted = wanted_text(users, entries)
    result["users"] = sorted(users)
    file_args = module.load_file_common_arguments({
        "path": path, "owner": module.params["owner"], "group": module.params["group"], "mode": module.params["mode"]})
    if wanted != text:
        result["changed"] = True
        result["diff"] = {"before": before_users, "after": "".join(user + "\n" for user in sorted(users)),
                          "before_header": path, "after_header": path}
        if not module.check_mode:
            if module.params["backup"] and text is not None:
                result["backup_file"] = module.backup_local(path)
            directory = os.path.dirname(path)
            temporary = os.path.join(directory, ".%s.%s" % (os.path.basename(path), secrets.token_hex(6)))
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(wanted)
            file_args["path"] = temporary
            module.set_fs_attributes_if_different(file_args, False)
            os.rename(temporary, path)
            file_args["path"] = path
    elif module.set_fs_attributes_if_different(file_args, False, diff=None):
        result["changed"] = True
    module.exit_json(**result)


if __name__ == "__main__":
    main()
