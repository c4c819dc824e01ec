"""The checkout's files as Python modules, for the tests that call their
functions directly (modules, plugins and scripts that are not packages)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load(name, relative):
    """The file ROOT/RELATIVE, imported as the module NAME."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
