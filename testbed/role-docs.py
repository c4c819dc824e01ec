"""Render each role's meta/argument_specs.yml into the variable section of its README.

The section lies between two marker lines (BEGIN and END below); everything
outside them is written by hand and left as it is. Each entry point gets a
heading, its description and a list of its options: name, type, default
and description. Python 3 and PyYAML only.

usage: testbed/role-docs.py [--check] [ROLE...]

Rewrites the README of each ROLE (every role by default). With --check it
changes nothing and exits 1, naming each README whose section differs from
what the specs render now.
"""

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- BEGIN generated from meta/argument_specs.yml: make docs -->"
END = "<!-- END generated from meta/argument_specs.yml -->"
WIDTH = 79

# Ansible's documentation markup, read the way ansible-doc reads it (the
# text inside ends at the first ")"): code, italics, bold, URLs and links.
MARKUP = re.compile(r"\b(?P<kind>C|V|O|RV|E|M|I|B|U|L)\((?P<text>[^)]+)\)")
# Names of the collection's variables and roles, shown as code where the
# specs write them as plain words.
IDENTIFIER = re.compile(r"\b(?:(?:flask_app|gunicorn|nginx_proxy|common|flaskops)_[a-z0-9_]*[a-z0-9]"
                        r"|flaskops\.stack\.[a-z_]+)\b")
# Markdown syntax in plain words: escaped so that it shows as written.
ESCAPES = {"\\": "\\\\", "*": "\\*", "[": "\\[", "]": "\\]", "<": "&lt;", ">": "&gt;", "`": "\\`"}
# A word that would turn the line it starts into a list item, a heading, a
# quote, a rule or HTML: kept at the end of the line before instead.
LINE_START_HAZARD = re.compile(r"[-+*#>=<|~]|\d+[.)]")


def load_specs(role):
    path = ROOT / "roles" / role / "meta" / "argument_specs.yml"
    return (yaml.safe_load(path.read_text()) or {}).get("argument_specs") or {}


def code(text):
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}"


def plain(text):
    """Plain words as Markdown: special characters escaped, identifiers as code."""
    parts, last = [], 0
    for found in IDENTIFIER.finditer(text):
        parts.append(escape(text[last:found.start()]))
        parts.append(code(found.group(0)))
        last = found.end()
    parts.append(escape(text[last:]))
    return "".join(parts)


def escape(text):
    text = "".join(ESCAPES.get(char, char) for char in text)
    # An underscore at the edge of a word could open or close emphasis.
    return re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)


def markdown(text):
    """One description sentence (or several) in Ansible markup, as Markdown."""
    parts, last = [], 0
    for found in MARKUP.finditer(text):
        parts.append(plain(text[last:found.start()]))
        kind, inner = found.group("kind"), found.group("text")
        if kind == "I":
            parts.append(f"*{escape(inner)}*")
        elif kind == "B":
            parts.append(f"**{escape(inner)}**")
        elif kind == "U":
            parts.append(f"<{inner}>")
        elif kind == "L":
            label, _ignored, url = inner.partition(",")
            parts.append(f"[{escape(label.strip())}]({url.strip()})")
        else:
            parts.append(code(inner))
        last = found.end()
    parts.append(plain(text[last:]))
    return "".join(parts)


def paragraphs(description):
    if not description:
        return []
    if isinstance(description, str):
        description = [description]
    return [" ".join(str(item).split()) for item in description]


def words(text):
    """TEXT's words, a code span with its spaces counting as one word."""
    found, spans = [], re.split(r"(?<!\\)(``.*?``|`[^`]*`)", text)
    for index, part in enumerate(spans):
        if index % 2:
            if found and not spans[index - 1][-1:].isspace():
                found[-1] += part
            else:
                found.append(part)
        else:
            pieces = part.split()
            if found and pieces and not part[:1].isspace() and index:
                found[-1] += pieces.pop(0)
            found += pieces
    return found


def wrap(text, first="", rest=""):
    """TEXT wrapped at WIDTH, the first line after FIRST and the others after REST.

    Lines break only between words and never inside a code span, nor before
    a word that would change what the line is; a word longer than the width
    gets a line of its own.
    """
    lines, line = [], first
    for word in words(text):
        bare = line in (first, rest)
        if bare or len(line) + 1 + len(word) <= WIDTH or LINE_START_HAZARD.match(word):
            line = line + word if bare else f"{line} {word}"
        else:
            lines.append(line)
            line = rest + word
    lines.append(line)
    return "\n".join(lines)


def default_text(value):
    if isinstance(value, bool):
        return code("true" if value else "false")
    if isinstance(value, str):
        return code(" ".join(value.split())) if value else code('""')
    if isinstance(value, (list, dict)):
        return code(json.dumps(value))
    return code(str(value))


def facts(option):
    """The line of facts before an option's description: type, choices, default."""
    kind = option.get("type", "str")
    if option.get("elements"):
        kind = f"{kind} of {option['elements']}"
    found = [kind]
    if option.get("choices"):
        found.append("one of " + ", ".join(code(str(choice)) for choice in option["choices"]))
    if option.get("required"):
        found.append("required")
    elif "default" in option:
        found.append("default " + default_text(option["default"]))
    if option.get("no_log"):
        found.append("secret")
    return ", ".join(found)


def render_option(name, option):
    text = f"{code(name)} ({facts(option)}): " + " ".join(markdown(p) for p in paragraphs(option.get("description")))
    return wrap(text, "- ", "  ")


def render_entry(entry, spec, earlier):
    """The Markdown of one entry point; EARLIER maps the entry points above it to their options."""
    title = f"Entry point {code(entry)}" + ("" if entry == "main" else f" ({code('tasks_from: ' + entry)})")
    blocks = [f"### {title}"]
    if spec.get("short_description"):
        blocks.append(wrap(markdown(spec["short_description"].rstrip(".") + ".")))
    blocks += [wrap(markdown(p)) for p in paragraphs(spec.get("description"))]
    options = spec.get("options") or {}
    if not options:
        blocks.append("No options.")
        return blocks
    for other, other_options in earlier.items():
        if options == other_options:
            blocks.append(f"The same options as {code(other)}, above.")
            return blocks
    described = {}
    for name, option in options.items():
        described[name] = next((other for other, other_options in earlier.items()
                                if other_options.get(name) == option), None)
    shared = [name for name in options if described[name]]
    own = [name for name in options if not described[name]]
    if shared:
        listed = ", ".join(code(name) + (" (required)" if options[name].get("required") else "") for name in shared)
        where = sorted({described[name] for name in shared})
        blocks.append(wrap(f"Options described under {', '.join(code(w) for w in where)}: {listed}."))
    if own:
        blocks.append(("Its own options:" if shared else "Options:") + "\n\n"
                      + "\n".join(render_option(name, options[name]) for name in own))
    return blocks


def render(role):
    """The generated section of ROLE's README, markers included."""
    specs = load_specs(role)
    order = sorted(specs, key=lambda entry: (entry != "main", list(specs).index(entry)))
    blocks = [BEGIN, wrap(f"Rendered from `meta/argument_specs.yml`, which Ansible checks the variables "
                          f"against when an entry point starts; `ansible-doc -t role flaskops.stack.{role}` "
                          f"shows the same.")]
    earlier = {}
    for entry in order:
        blocks += render_entry(entry, specs[entry], earlier)
        earlier[entry] = specs[entry].get("options") or {}
    blocks.append(END)
    return "\n\n".join(blocks) + "\n"


def markers(readme_text):
    """Where the generated section of a README's text begins and ends (after END)."""
    begin, end = readme_text.find(BEGIN), readme_text.find(END)
    if begin < 0 or end < begin:
        raise ValueError(f"the markers are missing or out of order ({BEGIN} ... {END})")
    return begin, end + len(END)


def current(readme_text):
    """The generated section of a README's text, markers included."""
    begin, end = markers(readme_text)
    return readme_text[begin:end] + "\n"


def rewrite(readme_text, section):
    """The README's text with SECTION in place of its generated section."""
    begin, end = markers(readme_text)
    return readme_text[:begin] + section + readme_text[end:].removeprefix("\n")


def roles():
    return sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a README is stale")
    parser.add_argument("roles", nargs="*", metavar="ROLE", help="roles to render (default: every role)")
    args = parser.parse_args(argv)
    stale = []
    for role in args.roles or roles():
        readme = ROOT / "roles" / role / "README.md"
        text = readme.read_text()
        try:
            updated = rewrite(text, render(role))
        except ValueError as error:
            print(f"{readme.relative_to(ROOT)}: {error}", file=sys.stderr)
            return 2
        if updated == text:
            continue
        stale.append(str(readme.relative_to(ROOT)))
        if not args.check:
            readme.write_text(updated)
    if args.check and stale:
        print("Stale, run make docs: " + ", ".join(stale), file=sys.stderr)
        return 1
    for path in stale:
        print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
