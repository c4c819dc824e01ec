#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.listening: which programs listen on which TCP ports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: listening
short_description: Tell which programs listen on the given TCP ports
description:
  - Reads the kernel's tables of listening TCP sockets (IPv4 and IPv6) and
    the processes that hold them, and reports, for each port asked for,
    every address it is bound to and the program holding it.
  - nginx_proxy checks after every reload that nginx listens on each port
    of the site (a reload whose new ports are taken leaves nginx on its old
    configuration, and the next restart would leave it down).
  - Needs root to see other users' processes. Never changes anything; runs
    in check mode too.
version_added: 1.0.0
options:
  ports:
    description: The TCP ports to report.
    type: list
    elements: int
    required: true
  program:
    description:
      - A program (its process name) that should listen on every port; C(missing) then lists the ports and
        address families it does not listen on.
    type: str
  families:
    description: The address families (4, 6) the program should listen on.
    type: list
    elements: int
    default: [4, 6]
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Read who listens on the site's ports
  flaskops.stack.listening:
    ports: [80, 443]
  register: __listeners
"""

RETURN = r"""
ports:
  description: For each port asked for (as text), its listeners.
  returned: always
  type: dict
  sample:
    "80":
      - {address: 0.0.0.0, family: 4, programs: [nginx]}
      - {address: "::", family: 6, programs: [nginx]}
missing:
  description: The ports (as C(port/IPv4) or C(port/IPv6)) on which O(program) does not listen.
  returned: always
  type: list
  elements: str
  sample: [8081/IPv4]
"""


import os
import socket
import struct

from ansible.module_utils.basic import AnsibleModule

LISTEN = "0A"


def parse_address(hex_address, family):
    raw = bytes.fromhex(hex_address)
    if family == 4:
        return socket.inet_ntop(socket.AF_INET, struct.pack("<I", struct.unpack(">I", raw)[0]))
    words = struct.unpack(">4I", raw)
    return socket.inet_ntop(socket.AF_INET6, struct.pack("<4I", *words))


def listening_sockets(proc="/proc"):
    """{inode: (address, port, family)} of every listening TCP socket."""
    found = {}
    for name, family in (("tcp", 4), ("tcp6", 6)):
        try:
            with open(os.path.join(proc, "net", name), encoding="ascii") as table:
                next(table)
                for line in table:
                    fields = line.split()
                    if len(fields) < 10 or fields[3] != LISTEN:
                        continue
                    address, port = fields[1].split(":")
                    found[fields[9]] = (parse_address(address, family), int(port, 16), family)
        except FileNotFoundError:
            continue
    return found


def holders(inodes, proc="/proc"):
    """{inode: {program names}} for the sockets INODES, from every process's fds."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    held = {}
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            with open(os.path.join(proc, pid, "comm"), encoding="utf-8", errors="replace") as handle:
                program = handle.read().strip()
            fds = os.path.join(proc, pid, "fd")
            for fd in os.listdir(fds):
                try:
                    target = os.readlink(os.path.join(fds, fd))
                except OSError:
                    continue
                if target in wanted:
                    held.setdefault(wanted[target], set()).add(program)
        except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
            continue
    return held


def listeners(ports, proc="/proc"):
    sockets = {inode: entry for inode, entry in listening_sockets(proc).items() if entry[1] in ports}
    held = holders(sockets, proc)
    result = {str(port): [] for port in ports}
    for inode, (address, port, family) in sorted(sockets.items(), key=lambda item: item[1]):
        entry = {"address": address, "family": family, "programs": sorted(held.get(inode, set()))}
        if entry not in result[str(port)]:
            result[str(port)].append(entry)
    return result


def missing(found, program, families):
    """PORT/IPvN for each port and family no socket of PROGRAM listens on."""
    gaps = []
    for port, entries in sorted(found.items(), key=lambda item: int(item[0])):
        for family in families:
            if not any(e["family"] == family and program in e["programs"] for e in entries):
                gaps.append(f"{port}/IPv{family}")
    return gaps


def main():
    module = AnsibleModule(argument_spec={
        "ports": {"type": "list", "elements": "int", "required": True},
        "program": {"type": "str"},
        "families": {"type": "list", "elements": "int", "default": [4, 6]},
    }, supports_check_mode=True)
    found = listeners(set(module.params["ports"]))
    program = module.params["program"]
    module.exit_json(changed=False, ports=found,
                     missing=missing(found, program, module.params["families"]) if program else [])


if __name__ == "__main__":
    main()
