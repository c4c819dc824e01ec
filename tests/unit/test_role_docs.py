"""Each variable is described once, in its role's meta/argument_specs.yml.

The README's variable section is rendered from the specs (make docs),
ansible-doc reads them as they are, and defaults/main.yml holds the values
with one line of comment each at most.
"""

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))


def load_renderer():
    spec = importlib.util.spec_from_file_location("role_docs", ROOT / "testbed" / "role-docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RENDERER = load_renderer()


def entry_points(role):
    return yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


@pytest.mark.parametrize("role", ROLES)
def test_readme_variable_section_is_what_the_specs_render(role):
    readme = ROOT / "roles" / role / "README.md"
    try:
        section = RENDERER.current(readme.read_text())
    except ValueError as error:
        pytest.fail(f"roles/{role}/README.md: {error}")
    assert section == RENDERER.render(role), (
        f"roles/{role}/README.md differs from its meta/argument_specs.yml: run make docs")


def test_rendering_leaves_the_hand_written_text_alone():
    text = f"# Title\n\nBefore.\n\n{RENDERER.BEGIN}\n\nold\n\n{RENDERER.END}\n\nAfter.\n"
    section = f"{RENDERER.BEGIN}\n\nnew\n\n{RENDERER.END}\n"
    assert RENDERER.rewrite(text, section) == f"# Title\n\nBefore.\n\n{section}\nAfter.\n"
    with pytest.raises(ValueError):
        RENDERER.rewrite("# Title\n\nNo markers.\n", section)


def test_rendered_lines_never_start_a_list_heading_or_quote_by_accident():
    text = "Past it, nginx answers 503 " + "word " * 12 + "- a dash, # a hash, > a quote and 1. a number"
    for line in RENDERER.wrap(text, "- ", "  ").splitlines()[1:]:
        assert not re.match(r"\s*([-+*#>]|\d+[.)])(\s|$)", line), line


@pytest.fixture(scope="module")
def collections_path(tmp_path_factory):
    """A collections path that holds this checkout as flaskops.stack, and nothing else."""
    path = tmp_path_factory.mktemp("collections")
    namespace = path / "ansible_collections" / "flaskops"
    namespace.mkdir(parents=True)
    (namespace / "stack").symlink_to(ROOT)
    return path


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_shows_every_entry_point_and_option(role, collections_path):
    if shutil.which("ansible-doc") is None:
        pytest.skip("ansible-doc is not installed")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_path), ANSIBLE_NOCOLOR="1")
    result = subprocess.run(["ansible-doc", "-t", "role", f"flaskops.stack.{role}"],
                            capture_output=True, text=True, env=env, timeout=120, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for entry, spec in entry_points(role).items():
        assert re.search(rf"\b{entry}\b", result.stdout), f"ansible-doc does not show the entry point {entry}"
        for name in spec.get("options") or {}:
            assert name in result.stdout, f"ansible-doc does not show {name} ({entry})"


@pytest.mark.parametrize("role", ROLES)
def test_each_default_has_one_comment_line_at_most(role):
    path = ROOT / "roles" / role / "defaults" / "main.yml"
    lines = path.read_text().splitlines()
    seen = set()
    for index, line in enumerate(lines):
        found = re.match(r"([A-Za-z_][A-Za-z0-9_]*):", line)
        if not found:
            continue
        seen.add(found.group(1))
        above = index
        while above > 0 and lines[above - 1].lstrip().startswith("#"):
            above -= 1
        assert index - above <= 1, (
            f"{path.relative_to(ROOT)}: {found.group(1)} has {index - above} comment lines; "
            "one at most, the rest belongs in meta/argument_specs.yml")
    assert seen == set(yaml.safe_load(path.read_text()) or {}), f"{path.relative_to(ROOT)}: a variable is not a top-level line"


@pytest.mark.parametrize("role", ROLES)
def test_defaults_header_is_short(role):
    lines = (ROOT / "roles" / role / "defaults" / "main.yml").read_text().splitlines()
    header = []
    for line in lines[1:]:
        if not line.startswith("#"):
            break
        header.append(line)
    assert len(header) <= 3, f"roles/{role}/defaults/main.yml: {len(header)} lines of header; the specs describe"
