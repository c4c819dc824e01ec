#!/usr/bin/python
# Copyright: flaskops maintainers
# MIT License (see LICENSE in the collection's root)
"""flaskops.stack.host_limits: what the host allows a server to hold."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


DOCUMENTATION = r"""
---
module: host_limits
short_description: Read the limits that size a server's connections
description:
  - Reports the host's processors, its memory, the most open files a
    service may be given (the hard limit of the service manager, process 1,
    which a unit's C(LimitNOFILE=) cannot exceed), the kernel's cap on a
    listening socket's queue (C(net.core.somaxconn)) and whether it can be
    raised (a container may make C(/proc/sys) read-only).
  - nginx_proxy sizes nginx's connections and its unit's open files from
    it, and gunicorn and nginx_proxy raise the queue cap to the backlogs
    they ask for.
  - Never changes anything; runs in check mode too.
version_added: 1.0.0
options: {}
author: flaskops maintainers (@flaskops)
"""

EXAMPLES = r"""
- name: Read what the host allows
  flaskops.stack.host_limits:
  register: __limits
"""

RETURN = r"""
cpus:
  description: Processors the host gives this process.
  returned: always
  type: int
memory_mb:
  description: The host's memory in MiB.
  returned: always
  type: int
nofile_hard:
  description: The hard limit on open files of process 1 (or of this process, when it cannot be read).
  returned: always
  type: int
somaxconn:
  description: The kernel's cap on a listening socket's queue.
  returned: always
  type: int
somaxconn_writable:
  description: Whether that cap can be changed on this host.
  returned: always
  type: bool
"""


import os
import resource

from ansible.module_utils.basic import AnsibleModule

SOMAXCONN = "/proc/sys/net/core/somaxconn"
UNLIMITED = 1 << 20


def nofile_hard(limits_file="/proc/1/limits"):
    try:
        with open(limits_file, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Max open files"):
                    hard = line.split()[4]
                    return UNLIMITED if hard == "unlimited" else int(hard)
    except (OSError, ValueError, IndexError):
        pass
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return UNLIMITED if hard == resource.RLIM_INFINITY else hard


def memory_mb(meminfo="/proc/meminfo"):
    try:
        with open(meminfo, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def read_limits():
    try:
        with open(SOMAXCONN, encoding="ascii") as handle:
            somaxconn = int(handle.read().strip())
    except (OSError, ValueError):
        somaxconn = 4096
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return {"cpus": cpus, "memory_mb": memory_mb(), "nofile_hard": nofile_hard(),
            "somaxconn": somaxconn, "somaxconn_writable": os.access(SOMAXCONN, os.W_OK)}


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    module.exit_json(changed=False, **read_limits())


if __name__ == "__main__":
    main()
