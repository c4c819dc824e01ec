"""flaskops.stack.flask_app's helper, run on the host (Python standard library only).

The role runs it with ``python3 -c`` (nothing is installed on the host):

check ENV_FILE TARGET [INSTANCE]
    With a release's virtualenv python, as the application user, in the
    release: load the application's environment file, then the WSGI target
    the way gunicorn names it ("module:attribute" or "module:factory(literal
    args)"). Secrets are read from the file, never put on a command line.
    With INSTANCE (the shared instance folder), a Flask application's
    instance_path must be that folder and writable.
run ENV_FILE COMMAND
    As above, then run COMMAND (split like a shell, run without one) with the
    virtualenv first in PATH: a pre-switch command.
build-requires PYPROJECT
    Print a pyproject.toml's build requirements, one a line (PEP 518's
    default when it names none).
releases ROOT KEEP [ROLLBACK_TO]
    As root, with the system python: print JSON describing the releases
    under ROOT: the live one, the history of deploys, the releases beyond
    KEEP to prune (never the live one nor the one a rollback would go to)
    and, for a rollback, the release to go back to (the one before the
    latest deploy, or the kept release named ROLLBACK_TO: a commit, a prefix
    of one, or a version it was deployed as) or why there is none.
"""

import ast
import importlib
import json
import os
import re
import shlex
import sys

HISTORY = "history.json"
SHA = re.compile(r"^[0-9a-f]{40}$")


def read_env_file(path):
    """KEY="value" lines as the role writes them (\\ escapes inside quotes)."""
    env = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            key, sep, value = line.rstrip("\n").partition("=")
            if not sep or key.startswith("#"):
                continue
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            env[key] = value
    return env


def load_wsgi(target):
    """Import a gunicorn-style WSGI target and return the application."""
    module_name, _, expression = target.partition(":")
    sys.path.insert(0, "")
    module = importlib.import_module(module_name)
    node = ast.parse(expression or "application", mode="eval").body
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        factory = getattr(module, node.func.id)
        args = [ast.literal_eval(arg) for arg in node.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
        application = factory(*args, **kwargs)
    elif isinstance(node, ast.Name):
        application = getattr(module, node.id)
    else:
        raise SystemExit(f"{target}: expected module:attribute or module:factory()")
    if not callable(application):
        raise SystemExit(f"{target} is not a WSGI callable")
    return application


def check_instance_path(application, shared):
    """A Flask application's instance folder must be the shared one."""
    path = getattr(application, "instance_path", None)
    if not isinstance(path, str):
        return
    if os.path.realpath(path) != os.path.realpath(shared):
        raise SystemExit(
            f"The application's instance folder is {path}, not the shared {shared}. Flask puts it "
            "there for a package installed into the virtualenv (a src/ layout, Poetry, hatch), so "
            "its data would live in the release and be lost with it. Give the application its "
            "folder, e.g. Flask(__name__, instance_path=os.environ[\"FLASK_INSTANCE_PATH\"]) with "
            f"flask_app_env FLASK_INSTANCE_PATH={shared}; or, if it keeps no data there, drop "
            "'instance' from flask_app_shared_dirs.")
    if not os.access(shared, os.W_OK):
        raise SystemExit(f"The shared instance folder {shared} is not writable by the application user.")


def run_command(command):
    argv = shlex.split(command)
    os.environ["VIRTUAL_ENV"] = sys.prefix
    os.environ["PATH"] = os.pathsep.join(
        [os.path.join(sys.prefix, "bin"), os.environ.get("PATH", "/usr/bin:/bin")])
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def build_requires(pyproject):
    try:
        import tomllib
    except ImportError:  # Python < 3.11 reads no TOML: PEP 518's default
        return ["setuptools>=40.8.0"]
    with open(pyproject, "rb") as handle:
        project = tomllib.load(handle)
    return project.get("build-system", {}).get("requires", ["setuptools>=40.8.0"])


def read_history(root):
    try:
        with open(os.path.join(root, HISTORY), encoding="utf-8") as handle:
            entries = json.load(handle)
    except (FileNotFoundError, ValueError):
        return []
    return [e for e in entries if isinstance(e, dict) and SHA.match(str(e.get("release", "")))]


def kept_releases(root):
    folder = os.path.join(root, "releases")
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return {}
    return {n: os.stat(os.path.join(folder, n)).st_mtime
            for n in names if SHA.match(n) and os.path.isdir(os.path.join(folder, n))}


def live_release(root):
    try:
        target = os.readlink(os.path.join(root, "current"))
    except OSError:
        return ""
    return os.path.basename(target.rstrip("/"))


def rollback_target(history, kept, live, name=""):
    """(release, reason): where a rollback goes, or why it cannot."""
    if name:
        name = name.strip()
        if re.match(r"^[0-9a-f]{7,40}$", name):
            matches = sorted(r for r in kept if r.startswith(name))
            if len(matches) == 1:
                return matches[0], ""
            if len(matches) > 1:
                return "", f"{name!r} names more than one kept release: {', '.join(matches)}"
        for entry in reversed(history):
            if entry.get("version") == name and entry["release"] in kept:
                return entry["release"], ""
        return "", (f"no release kept on this host was deployed as {name!r} or has a commit "
                    f"starting with it; kept: {', '.join(sorted(kept)) or 'none'}")
    if not history:
        return "", "no deploy is recorded on this host: there is nothing to roll back to"
    latest = history[-1]["release"]
    recorded = {entry["release"] for entry in history}
    if live and live not in recorded and latest in kept:
        return latest, ""  # the deploy that made the live release was cut short
    for entry in reversed(history[:-1]):
        if entry["release"] != latest:
            if entry["release"] in kept:
                return entry["release"], ""
            return "", (f"the release deployed before {latest} ({entry['release']}) is no "
                        f"longer kept on this host")
    return "", f"only one release ({latest}) was ever deployed here: there is nothing to roll back to"


def releases_to_prune(history, kept, live, keep):
    """Releases beyond KEEP, those longest out of service first."""
    order = []
    for entry in reversed(history):
        if entry["release"] in kept and entry["release"] not in order:
            order.append(entry["release"])
    # Releases the history does not know (built but never live, or older
    # than the history): newest folder first, after the recorded ones.
    order += sorted((r for r in kept if r not in order), key=lambda r: kept[r], reverse=True)
    ranked = ([live] if live in kept else []) + [r for r in order if r != live]
    return sorted(ranked[max(keep, 1):])


def describe_releases(root, keep, rollback_to=""):
    history = read_history(root)
    kept = kept_releases(root)
    live = live_release(root)
    target, reason = rollback_target(history, kept, live, rollback_to)
    return {
        "live": live,
        "history": history,
        "kept": sorted(kept),
        "prune": releases_to_prune(history, kept, live, keep),
        "rollback_target": target,
        "rollback_error": reason,
    }


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    if (mode == "check" and len(argv) in (4, 5)) or (mode == "run" and len(argv) == 4):
        os.environ.update(read_env_file(argv[2]))
        if mode == "run":
            run_command(argv[3])
        application = load_wsgi(argv[3])
        if len(argv) == 5 and argv[4]:
            check_instance_path(application, argv[4])
        print(f"{argv[3]} loads: {type(application).__name__}")
        return 0
    if mode == "build-requires" and len(argv) == 3:
        print("\n".join(build_requires(argv[2])))
        return 0
    if mode == "releases" and len(argv) in (4, 5):
        print(json.dumps(describe_releases(argv[2], int(argv[3]), argv[4] if len(argv) == 5 else "")))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
