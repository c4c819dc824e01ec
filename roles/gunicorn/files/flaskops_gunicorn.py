"""gunicorn under systemd with no pause: server hooks, and the unit's reload.

flaskops.stack.gunicorn installs this file as
/usr/local/lib/flaskops/flaskops_gunicorn.py. It has two uses.

**Server hooks.** /etc/gunicorn/<name>.conf.py loads it and hands
``server_hooks(...)`` to gunicorn:

- ``on_starting``: gunicorn tells systemd it is ready as soon as the master
  holds its sockets, before any worker has imported the application. The
  hook holds that message back; the workers send it once every one of them
  has loaded the application, so ``systemctl start`` returns when the
  application can answer.
- ``post_worker_init``: counts the workers that have loaded the application.
  In a master started by a reload (a *successor*), each new worker first
  answers the health path itself, in process, before it accepts a single
  connection: a release that fails only when it runs as the service never
  serves a request. When the last worker is ready, the successor becomes
  systemd's main process and stops its predecessor, whose workers finish
  the requests they hold.
- ``pre_exec``: a reload re-executes the master (gunicorn's SIGUSR2). The
  new master runs the release the application folder points to *now*, with
  that release's virtualenv and the environment systemd computed for the
  reload (the environment file as it is now), not the old master's; and it
  finds the listening sockets where systemd's protocol says they are (file
  descriptors 3, 4...), which gunicorn's own re-exec does not ensure.

**The unit's reload.** Run as a program, it is ``ExecReload=``::

    python3 flaskops_gunicorn.py reload MAINPID TIMEOUT

It hands the reload's environment to the successor, signals the main
process, and waits until the successor has taken over (exit 0). When the
successor exits, or has not taken over within TIMEOUT seconds (it is then
stopped), the reload fails (exit 1) and the old master keeps serving.

Both sides meet in ``$RUNTIME_DIRECTORY`` (/run/gunicorn-<name>, mode 0700,
the service user's): ``env.<pid>`` (the reload's environment for the
successor of <pid>), ``successor.<pid>`` (that successor's PID),
``ready.<master>.<worker>`` (a worker of <master> has loaded the
application), ``claim.<master>`` and ``announced.<master>`` (<master>'s
readiness is being, then has been, told to systemd). Only the Python
standard library is used.
"""

import array
import fcntl
import io
import json
import os
import select
import signal
import socket
import sys
import time

# Set by systemd for one process, or per exec: the successor keeps its
# predecessor's values rather than the reload helper's.
PER_PROCESS = ("MAINPID", "JOURNAL_STREAM", "SYSTEMD_EXEC_PID", "LISTEN_PID", "LISTEN_FDS",
               "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC")
# Worker classes whose application is a WSGI callable the self-check can call.
WSGI_WORKERS = ("sync", "gthread", "gevent", "eventlet")
BARRIER_SECONDS = 5.0


def runtime_directory(environ=None):
    """The first folder of systemd's RuntimeDirectory=, or None."""
    value = (environ if environ is not None else os.environ).get("RUNTIME_DIRECTORY", "")
    first = value.split(":", 1)[0]
    return first if first and os.path.isdir(first) else None


def notify(address, message, barrier=False):
    """Send MESSAGE to systemd's notification socket at ADDRESS.

    With ``barrier``, wait until systemd has handled it (sd_notify_barrier):
    systemd closes the pipe end it is given once every earlier message from
    this sender is processed.
    """
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall(message.encode())
        if not barrier:
            return
        read_end, write_end = os.pipe()
        try:
            sock.sendmsg([b"BARRIER=1"],
                         [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [write_end]))])
            os.close(write_end)
            write_end = -1
            poller = select.poll()
            poller.register(read_end, select.POLLHUP)
            poller.poll(BARRIER_SECONDS * 1000)
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)


def reload_environment(reload_env, predecessor_env):
    """The environment a successor starts with.

    Everything systemd computed for the reload (so a changed environment
    file takes effect, and a removed variable is gone), except what systemd
    sets per process, which stays as the predecessor had it.
    """
    merged = {k: v for k, v in reload_env.items() if k not in PER_PROCESS}
    merged.update({k: v for k, v in predecessor_env.items() if k in PER_PROCESS})
    return merged


def successor_command(venv, config_file):
    """argv that starts gunicorn from VENV as it is now (a release link resolved)."""
    venv = os.path.realpath(venv)
    python = os.path.join(venv, "bin", "python")
    return python, [python, os.path.join(venv, "bin", "gunicorn"), "--config", config_file]


def health_environ(path):
    """A WSGI environ for a plain GET of PATH, as from the proxy on this host."""
    path_info, _ignored, query = path.partition("?")
    return {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path_info,
        "QUERY_STRING": query, "RAW_URI": path, "SERVER_NAME": "localhost",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "localhost",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "0",
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def answer_health(application, path, excerpt=200):
    """Call the WSGI APPLICATION for PATH in process.

    Returns the status line and the start of the body, on one line.
    """
    status, chunks = [], []

    def start_response(line, _headers, _exc_info=None):
        status[:] = [line]
        return chunks.append

    body = application(health_environ(path), start_response)
    try:
        for chunk in body:
            if sum(map(len, chunks)) < excerpt:
                chunks.append(chunk)
    finally:
        if hasattr(body, "close"):
            body.close()
    text = b"".join(chunks)[:excerpt].decode("utf-8", "replace")
    return (status[0] if status else "no status"), " ".join(text.split())


def move_listeners(fds, first=3):
    """Put the listening sockets FDS at FIRST, FIRST+1... across exec.

    gunicorn keeps a socket inherited from systemd at a new descriptor and
    closes the original; a re-executed master reading LISTEN_FDS would look
    for it at 3. Copies go above the targets first, so none is overwritten
    before it is moved.
    """
    spare = [fcntl.fcntl(fd, fcntl.F_DUPFD, first + len(fds)) for fd in fds]
    for offset, fd in enumerate(spare):
        os.dup2(fd, first + offset, inheritable=True)
        os.close(fd)


def count_ready(folder, master):
    prefix = f"ready.{master}."
    return sum(1 for name in os.listdir(folder) if name.startswith(prefix))


def touch(path, content=""):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def claim(path):
    """Create PATH; False when it exists already (another worker won)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        return False
    return True


def server_hooks(app_dir, venv, config_file, health_path=""):
    """gunicorn server hooks for a service whose code lives at APP_DIR.

    APP_DIR and VENV may be links (a release switched atomically); they are
    resolved when a master starts. CONFIG_FILE is this configuration's path.
    HEALTH_PATH, when not empty, is answered by every worker of a successor
    before it takes connections.
    """
    state = {"notify": None, "runtime": None, "predecessor": 0}

    def on_starting(server):
        state["runtime"] = runtime_directory()
        state["predecessor"] = server.master_pid
        address = os.environ.get("NOTIFY_SOCKET")
        if address and state["runtime"]:
            # Readiness is told by the workers (post_worker_init).
            state["notify"] = os.environ.pop("NOTIFY_SOCKET")
        else:
            state["notify"] = None
        if state["predecessor"] and state["runtime"]:
            server.log.info("Started by a reload of master %s: taking over once every "
                            "worker has loaded %s", state["predecessor"], os.getcwd())

    def post_worker_init(worker):
        folder, address = state["runtime"], state["notify"]
        if not (folder and address):
            return
        master = worker.ppid
        if os.path.exists(os.path.join(folder, f"announced.{master}")):
            return  # a worker replacing another one
        if state["predecessor"] and health_path and worker.cfg.worker_class_str in WSGI_WORKERS:
            line, body = answer_health(worker.wsgi, health_path)
            if not line.startswith("200"):
                raise RuntimeError(
                    f"the new master's worker answered {line!r} on the health path "
                    f"{health_path} ({body}); the running master keeps serving")
            worker.log.info("Health path %s answered %s in this worker", health_path, line)
        touch(os.path.join(folder, f"ready.{master}.{os.getpid()}"))
        if count_ready(folder, master) < worker.cfg.workers:
            return
        if not claim(os.path.join(folder, f"claim.{master}")):
            return
        release = os.getcwd()
        if state["predecessor"]:
            notify(address, f"MAINPID={master}\nSTATUS=Serving {release}", barrier=True)
            try:
                os.kill(state["predecessor"], signal.SIGTERM)
            except ProcessLookupError:
                pass
            worker.log.info("Took over from master %s, which now finishes its requests",
                            state["predecessor"])
        else:
            notify(address, f"READY=1\nSTATUS=Serving {release}")
        os.rename(os.path.join(folder, f"claim.{master}"),
                  os.path.join(folder, f"announced.{master}"))

    def pre_exec(server):
        folder = state["runtime"]
        old = os.getppid()
        if folder:
            touch(os.path.join(folder, f"successor.{old}"), str(os.getpid()))
            env_file = os.path.join(folder, f"env.{old}")
            try:
                with open(env_file, encoding="utf-8") as handle:
                    reload_env = json.load(handle)
                os.unlink(env_file)
            except FileNotFoundError:
                reload_env = None  # a plain SIGUSR2: keep the environment
            if reload_env is not None:
                merged = reload_environment(reload_env, server.cfg.env_orig)
                server.cfg.env_orig.clear()
                server.cfg.env_orig.update(merged)
        if server.systemd:
            move_listeners([listener.fileno() for listener in server.LISTENERS])
        python, argv = successor_command(venv, config_file)
        server.START_CTX[0] = python
        server.START_CTX["args"] = argv
        server.START_CTX["cwd"] = os.path.realpath(app_dir)

    return {"on_starting": on_starting, "post_worker_init": post_worker_init,
            "pre_exec": pre_exec}


def process_state(pid):
    """'R', 'S', 'Z'... for a running process, None when there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def alive(pid):
    return process_state(pid) not in (None, "Z", "X")


def read_pid(path):
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        return 0
    return int(text) if text.isdigit() else 0


def stop(pid, grace=5.0):
    """SIGTERM PID, then SIGKILL if it is still there after GRACE seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.1)


def forget(folder, master):
    """Remove what the runtime folder holds about MASTER, now gone or going."""
    for name in os.listdir(folder):
        if name.startswith(f"ready.{master}.") or name in (
                f"announced.{master}", f"claim.{master}", f"successor.{master}"):
            os.unlink(os.path.join(folder, name))


def reload(main_pid, timeout, folder, environ, out=sys.stderr):
    """Start a successor of MAIN_PID and wait until it has taken over."""
    env_file = os.path.join(folder, f"env.{main_pid}")
    successor_file = os.path.join(folder, f"successor.{main_pid}")
    if os.path.exists(successor_file):
        os.unlink(successor_file)
    touch(env_file, json.dumps(dict(environ)))
    try:
        return wait_for_successor(main_pid, timeout, folder, successor_file, out)
    finally:
        # The successor reads and removes it; the secrets in it never stay.
        if os.path.exists(env_file):
            os.unlink(env_file)


def wait_for_successor(main_pid, timeout, folder, successor_file, out):
    os.kill(main_pid, signal.SIGUSR2)
    deadline = time.monotonic() + timeout
    successor = 0
    while time.monotonic() < deadline:
        successor = successor or read_pid(successor_file)
        if successor and os.path.exists(os.path.join(folder, f"announced.{successor}")):
            forget(folder, main_pid)
            print(f"master {successor} took over from {main_pid}", file=out)
            return 0
        if successor and not alive(successor):
            print(f"the new master {successor} exited before it was ready; master "
                  f"{main_pid} keeps serving (its journal says why)", file=out)
            return 1
        if not alive(main_pid):
            print(f"master {main_pid} exited during the reload", file=out)
            return 1
        time.sleep(0.1)
    if successor:
        stop(successor)
    print(f"no new master took over within {timeout:g}s; master {main_pid} keeps serving",
          file=out)
    return 1


def main(argv):
    if len(argv) != 4 or argv[1] != "reload" or not argv[2].isdigit():
        print(f"usage: {argv[0]} reload MAINPID TIMEOUT", file=sys.stderr)
        return 2
    folder = runtime_directory()
    if folder is None:
        print("no RuntimeDirectory: run by systemd as the unit's ExecReload", file=sys.stderr)
        return 2
    environ = {k: v for k, v in os.environ.items() if k != "MAINPID"}
    return reload(int(argv[2]), float(argv[3]), folder, environ)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
