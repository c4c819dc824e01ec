#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.nginx_server_names: the names each enabled nginx site claims."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: nginx_server_names
short_description: Read the server names each enabled nginx configuration file claims
description:
  - Reads the configuration files nginx includes from its folders of
    enabled sites and extra configuration, and reports the names every
    C(server_name) directive in each of them claims, in lower case (nginx
    compares names without case).
  - nginx_proxy refuses a site whose name or alias another site on the host
    claims already. nginx only warns about such a name, and the site then
    answers with the other site, or redirects to itself.
  - Never changes anything; runs in check mode too.
version_added: 1.0.0
options:
  patterns:
    description: Glob patterns of the files to read.
    type: list
    elements: str
    default: [/etc/nginx/sites-enabled/*, /etc/nginx/conf.d/*.conf]
  names:
    description: Names to look for (compared without case); C(claimed) lists the files that claim them.
    type: list
    elements: str
    default: []
  exclude:
    description: Files not to count (compared with links resolved), such as the site's own.
    type: list
    elements: str
    default: []
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Read the names the enabled sites claim
  flaskops.stack.nginx_server_names:
  register: __names
"""

RETURN = r"""
files:
  description: For each file read, its path with links resolved and the names it claims.
  returned: always
  type: list
  elements: dict
  sample:
    - {path: /etc/nginx/sites-enabled/example.com.conf, realpath: /etc/nginx/sites-available/example.com.conf,
       names: [example.com, www.example.com]}
claimed:
  description: Each of O(names) a file other than O(exclude) claims, with that file.
  returned: always
  type: list
  elements: dict
  sample: [{name: example.com, path: /etc/nginx/sites-enabled/other.conf}]
"""


import glob
import os
import re

from ansible.module_utils.basic import AnsibleModule

DIRECTIVE = re.compile(r"(?:^|[;{}\s])server_name\s+([^;{}]*);")


def strip_comments(text):
    """The text without its # comments (outside quotes, as nginx reads them)."""
    lines = []
    for line in text.splitlines():
        quote = None
        for index, char in enumerate(line):
            if quote:
                if char == quote:
                    quote = None
            elif char in "'\"":
                quote = char
            elif char == "#":
                line = line[:index]
                break
        lines.append(line)
    return "\n".join(lines)


def server_names(text):
    names = []
    for found in DIRECTIVE.finditer(strip_comments(text)):
        for name in found.group(1).split():
            name = name.strip("'\"").lower()
            if name and name not in names:
                names.append(name)
    return names


def read(patterns):
    files = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            if not os.path.isfile(path):
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    names = server_names(handle.read())
            except OSError:
                continue
            files.append({"path": path, "realpath": os.path.realpath(path), "names": names})
    return files


def claimed(files, names, exclude):
    wanted = {name.lower().rstrip(".") for name in names}
    skipped = {os.path.realpath(path) for path in exclude}
    return [{"name": name, "path": entry["path"]} for entry in files if entry["realpath"] not in skipped
            for name in entry["names"] if name.rstrip(".") in wanted]


def main():
    module = AnsibleModule(argument_spec={
        "patterns": {"type": "list", "elements": "str",
                     "default": ["/etc/nginx/sites-enabled/*", "/etc/nginx/conf.d/*.conf"]},
        "names": {"type": "list", "elements": "str", "default": []},
        "exclude": {"type": "list", "elements": "str", "default": []},
    }, supports_check_mode=True)
    files = read(module.params["patterns"])
    module.exit_json(changed=False, files=files,
                     claimed=claimed(files, module.params["names"], module.params["exclude"]))


if __name__ == "__main__":
    main()
