"""Give ansible-test the pip bootstrap script it would download.

ansible-test starts pip in each virtualenv it makes with get-pip.py from
ci-files.testing.ansible.com, which the test machines cannot reach; it uses
~/.ansible/test/cache/get_pip_<version>.py instead when that file exists.
Run with the Python of the ansible-core to test: it writes that file for
the pip version that core asks for. The stand-in runs Python's own
ensurepip, then installs what ansible-test asks for (pip, and setuptools
and wheel where it asks for them, at its versions) from the package index the system's pip is set up
for.
"""

import inspect
import os
import re

from ansible_test._internal import python_requirements

STAND_IN = '''"""Stands in for get-pip.py (written by testbed/sanity_pip.py)."""
import subprocess
import sys

# In a process of its own: ensurepip points PIP_CONFIG_FILE at /dev/null in
# the process it runs in, which would hide the system's pip configuration
# (an index mirror, a CA) from the install below.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
# get-pip.py's own options (newer cores ask for pip alone) are not pip's.
OWN = ("--no-setuptools", "--no-wheel")
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *(a for a in sys.argv[1:] if a not in OWN)]))
'''


def main():
    source = inspect.getsource(python_requirements.get_venv_packages)
    version = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", source).group(1)
    path = os.path.expanduser(f"~/.ansible/test/cache/get_pip_{version.replace('.', '_')}.py")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(STAND_IN)
    print(path)


if __name__ == "__main__":
    main()
