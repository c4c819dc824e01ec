"""Static checks of the roles' public contract: defaults, specs, naming."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks").is_dir())


def load(path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.fixture(params=ROLES)
def role(request):
    return request.param


def spec_options(role):
    """The options of every entry point of the role."""
    options = {}
    for entry in load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"].values():
        options.update(entry.get("options") or {})
    return options


def test_every_default_is_specified_with_the_same_value(role):
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    options = spec_options(role)
    for name, value in defaults.items():
        assert name in options, f"{role}: {name} has a default but no argument spec"
        assert options[name].get("default") == value, f"{role}: {name} default differs from its spec"


def test_every_optional_spec_has_a_default_and_required_ones_do_not(role):
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    for name, option in spec_options(role).items():
        if option.get("required"):
            assert name not in defaults, f"{role}: required {name} must not have a default"
        else:
            assert name in defaults, f"{role}: optional {name} is missing from defaults/main.yml"
        assert option.get("description"), f"{role}: {name} has no description"


def test_public_variables_carry_the_role_prefix(role):
    for name in spec_options(role):
        assert name.startswith(f"{role}_"), f"{role}: {name} lacks the {role}_ prefix"


def test_internal_variables_carry_the_private_prefix(role):
    vars_file = ROOT / "roles" / role / "vars" / "main.yml"
    internal = load(vars_file) if vars_file.exists() else {}
    prefix = f"__{role}_"
    for name in internal:
        assert name.startswith(prefix), f"{role}: {name} in vars/main.yml lacks {prefix}"


def test_no_task_registers_or_sets_a_name_of_vars_main(role):
    """A result registered (or a fact set) under a name vars/main.yml gives
    shadows that entry for the rest of the play, in every role's task."""
    vars_file = ROOT / "roles" / role / "vars" / "main.yml"
    internal = set(load(vars_file)) if vars_file.exists() else set()
    for tasks in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        for task in load(tasks) or []:
            for one in [task] + task.get("block", []) + task.get("rescue", []) + task.get("always", []):
                written = {one.get("register")} | set(one.get("ansible.builtin.set_fact") or {})
                clash = written & internal
                assert not clash, f"{tasks.name}: {sorted(clash)} is in vars/main.yml and is written by a task"


def test_templates_are_marked_as_managed(role):
    # A template named _*.j2 holds macros other templates import: never written itself.
    for template in (ROOT / "roles" / role / "templates").glob("[!_]*.j2"):
        first = template.read_text().splitlines()[0]
        assert first == "{{ ansible_managed | comment }}", f"{template} lacks the managed header"


def test_readme_documents_every_variable(role):
    readme = (ROOT / "roles" / role / "README.md").read_text()
    for name in spec_options(role):
        assert f"`{name}`" in readme, f"{role}/README.md does not document {name}"
    assert f"flaskops.stack.{role}" in readme


def descriptions(role):
    """(where, text) of every description of the role's specs, entry points and options."""
    specs = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    for entry, spec in specs.items():
        for key in ("short_description", "description"):
            if key in spec:
                yield f"{entry} {key}", spec[key]
        for name, option in (spec.get("options") or {}).items():
            yield f"{entry} {name}", option.get("description")


def test_descriptions_are_text_without_templates(role):
    # Ansible templates the whole spec when an entry point starts: a
    # description that mentions a variable between braces would fail it.
    for where, text in descriptions(role):
        items = text if isinstance(text, list) else [text]
        for item in items:
            assert isinstance(item, str), f"{role}: {where} holds {item!r}, not text (a colon and a space?)"
            assert "{{" not in item and "{%" not in item, f"{role}: {where} holds a template"


def test_an_option_is_the_same_in_every_entry_point(role):
    specs = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    first = {}
    for entry, spec in specs.items():
        for name, option in (spec.get("options") or {}).items():
            where, seen = first.setdefault(name, (entry, option))
            assert option == seen, f"{role}: {name} differs between the entry points {where} and {entry}"


def role_inclusions():
    """(file, role, entry point) for each include_role or import_role with tasks_from
    in the playbooks, the roles and the Molecule scenarios."""
    keys = {f"{prefix}{kind}_role" for prefix in ("", "ansible.builtin.") for kind in ("include", "import")}

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in keys and isinstance(value, dict) and "tasks_from" in value:
                    yield path, value["name"].removeprefix("flaskops.stack."), value["tasks_from"]
                yield from walk(value, path)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, path)

    files = [*(ROOT / "playbooks").rglob("*.yml"), *(ROOT / "roles").glob("*/tasks/*.yml"),
             *(ROOT / "molecule").rglob("*.yml")]
    for path in sorted(files):
        yield from walk(load(path), path.relative_to(ROOT))


def test_every_entry_point_in_use_has_a_spec():
    found = list(role_inclusions())
    assert found, "no tasks_from found: the search is broken"
    for path, role, entry in found:
        if role not in ROLES:
            continue
        specs = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
        assert entry in specs, f"{path} runs {role} tasks_from {entry}, which has no argument spec"
