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
"""

import ast
import importlib
import os
import re
import shlex
import sys


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
    module_name, _ignored, expression = target.partition(":")
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
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
