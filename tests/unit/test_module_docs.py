"""Each module's documentation is valid YAML, as ansible-doc and the sanity tests read it.

A description line holding ": " turns into a mapping and the whole
documentation fails to load; ansible-test sanity would say so only after
the long scenarios, this says so at once.
"""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted((ROOT / "plugins" / "modules").glob("*.py"))


def docs_of(path):
    """DOCUMENTATION, EXAMPLES and RETURN of the module at PATH, as written."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                    found[target.id] = node.value.value
    return found


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_module_documentation_loads(path):
    docs = docs_of(path)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    documentation = yaml.safe_load(docs["DOCUMENTATION"])
    assert documentation["module"] == path.stem
    for name, option in (documentation.get("options") or {}).items():
        assert isinstance(option, dict), name
        description = option["description"]
        for line in description if isinstance(description, list) else [description]:
            assert isinstance(line, str), f"{name}: a description line that is not text: {line!r}"
    assert isinstance(yaml.safe_load(docs["EXAMPLES"]), list)
    for name, value in (yaml.safe_load(docs["RETURN"]) or {}).items():
        assert isinstance(value, dict), name
