"""flaskops.stack.run_lock: two runs of one application on one host never interleave.

The controller side of the module of the same name. ``state: acquired``
waits (up to ``wait`` seconds, saying who holds the lock) until the host's
lock of the application is free or stale, takes it, and leaves a keeper
behind: a process of this run that renews the lease every quarter of it
through the run's own connection, and releases the lock once the run's
ansible-playbook process has ended, however it ended. A run killed with
its keeper (the controller lost, or every process killed) stops renewing:
its lock is stale when the lease runs out, and the next run takes it over,
saying so. ``state: released`` and ``state: status`` act at once.
"""

import getpass
import hashlib
import os
import socket
import sys
import time

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

MODULE = "flaskops.stack.run_lock"
POLL_SECONDS = 2


def process_start(pid):
    """The start time of PID (clock ticks since boot), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def alive(pid, started):
    """Whether PID is still the process that started at STARTED."""
    if started is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return process_start(pid) == started


# Options of ansible-playbook whose value may end in .yml (not a playbook).
VALUED = ("-i", "--inventory", "--inventory-file", "-e", "--extra-vars", "--vault-password-file",
          "--vault-id", "--private-key", "--key-file")


def playbooks_run(argv):
    """The playbooks on an ansible-playbook command line."""
    found, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in VALUED:
            skip = True
        elif not arg.startswith("-") and arg.endswith((".yml", ".yaml")):
            found.append(os.path.basename(arg))
    return found


def run_identity():
    """(token, holder): one token for every lock this ansible-playbook run takes."""
    main = os.getppid()
    controller = socket.gethostname()
    started = process_start(main)
    token = hashlib.sha256(f"{controller}:{main}:{started}".encode()).hexdigest()[:32]
    playbooks = playbooks_run(sys.argv[1:])
    holder = {"user": getpass.getuser(), "controller": controller, "pid": main,
              "playbook": " ".join(playbooks) or os.path.basename(sys.argv[0])}
    return token, holder, main, started


def describe(lock):
    """Who holds LOCK, in one line."""
    if not lock:
        return "nobody"
    holder = lock.get("holder") or {}
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(lock.get("since", 0)))
    text = (f"{holder.get('user', '?')}@{holder.get('controller', '?')} "
            f"({holder.get('playbook', '?')}"
            + (f", version {holder['version']}" if holder.get("version") else "")
            + f", process {holder.get('pid', '?')}) since {since}")
    if holder.get("message"):
        text += f": {holder['message']!r}"
    if lock.get("expires") is None:
        text += ", until released with playbooks/lock.yml"
    return text


class ActionModule(ActionBase):
    """Take, release or read an application's run lock on a host."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("name", "state", "wait", "lease", "message", "version", "keep", "force"))

    def _lock(self, task_vars, **args):
        result = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        if result.get("failed"):
            raise AnsibleError(f"{MODULE}: {result.get('msg', result)}")
        return result

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        name = str(args.get("name", ""))
        state = args.get("state", "acquired")
        lease = int(args.get("lease", 60))
        token, holder, main, started = run_identity()
        host = task_vars.get("inventory_hostname", "?")
        try:
            if state == "status":
                found = self._lock(task_vars, name=name, state="status")
                result.update(lock=found["lock"], msg=f"The lock of {name} on {host} is held by {describe(found['lock'])}.")
                return result
            if state == "released":
                found = self._lock(task_vars, name=name, state="status")
                lock = found["lock"]
                manual = bool(lock) and (lock.get("holder") or {}).get("kind") == "manual"
                force = bool(args.get("force")) or manual
                if lock and lock["token"] != token and not force:
                    result.update(failed=True, msg=f"The lock of {name} on {host} is held by {describe(lock)}, a run "
                                                   "that has not ended: it is released when that run ends (or, stale, "
                                                   "taken over). Add -e flaskops_lock_force=true to remove it anyway.")
                    return result
                released = self._lock(task_vars, name=name, state="released", token=token, force=force)
                result.update(changed=released["changed"], lock=None,
                              msg=f"Released the lock of {name} on {host}, held by {describe(lock)}." if lock
                              else f"The lock of {name} on {host} was free.")
                return result
            return self._acquire(result, task_vars, name, token, holder, main, started, host, lease)
        except AnsibleError as error:
            result.update(failed=True, msg=str(error))
            return result

    def _acquire(self, result, task_vars, name, token, holder, main, started, host, lease):
        args = self._task.args
        wait = int(args.get("wait", 300))
        holder = dict(holder, version=str(args.get("version") or ""), message=str(args.get("message") or ""),
                      kind="manual" if lease == 0 else "run")
        if self._task.check_mode:
            found = self._lock(task_vars, name=name, state="status")
            if found["lock"] and found["lock"]["token"] != token:
                display.warning(f"The lock of {name} on {host} is held by {describe(found['lock'])}: a real run "
                                "would wait for it. Check mode takes no lock.")
            result.update(lock=found["lock"])
            return result
        deadline = time.monotonic() + wait
        said = False
        while True:
            taken = self._lock(task_vars, name=name, state="acquired", token=token, holder=holder, lease=lease)
            if taken["acquired"]:
                break
            if time.monotonic() >= deadline:
                result.update(failed=True, lock=taken["lock"],
                              msg=f"Another run holds the lock of {name} on {host}: {describe(taken['lock'])}. "
                                  f"Waited {wait} s (flaskops_lock_wait); nothing was changed. A run that died "
                                  "stops renewing its lock, which is taken over once stale (within 2 minutes).")
                return result
            if not said:
                display.display(f"{host}: waiting up to {wait} s (flaskops_lock_wait) for the lock of {name}, "
                                f"held by {describe(taken['lock'])}")
                said = True
            time.sleep(POLL_SECONDS)
        if taken.get("took_over"):
            stale = taken["took_over"]
            display.warning(f"{host}: took over the lock of {name} from {describe(stale)}: that run stopped renewing "
                            f"it {taken['now'] - stale.get('renewed', taken['now']):.0f} s ago (killed, or its "
                            "controller lost), so it was stale.")
            result["took_over"] = stale
        # A run's lock is gone when the run ends: no change to the host. One
        # taken by hand (lease 0) stays, and is one.
        result.update(changed=taken["changed"] and lease == 0, lock=taken["lock"],
                      msg=f"{host}: took the lock of {name}" + (" (waited for it)" if said else ""))
        if taken["changed"] and lease > 0 and args.get("keep", True):
            self._start_keeper(task_vars, name, token, lease, main, started)
        return result

    def _start_keeper(self, task_vars, name, token, lease, main, started):
        """Fork a detached process that renews the lease while the run lives,
        then releases the lock."""
        child = os.fork()
        if child:
            os.waitpid(child, 0)
            return
        try:
            os.setsid()
            if os.fork():
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.closerange(3, 1 << 16)
            # Nothing of this process goes to the run's output: the queue to
            # the main process belongs to the worker this was forked from.
            display._final_q = None  # pylint: disable=protected-access
            display.verbosity = 0
            self._keep(task_vars, name, token, lease, main, started)
        finally:
            os._exit(0)

    def _lock_alone(self, task_vars, **args):
        """_lock, from the keeper. Without pipelining (Ansible's default) a
        module is first copied into a temporary folder on the host: the one
        the keeper inherits is the task's, removed when the task ends, so each
        call makes its own and removes it."""
        self._connection._shell.tmpdir = None
        try:
            return self._lock(task_vars, **args)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _keep(self, task_vars, name, token, lease, main, started):
        interval = max(1, lease // 4)
        renew_at = time.monotonic() + interval
        while alive(main, started):
            if time.monotonic() >= renew_at:
                try:
                    renewed = self._lock_alone(task_vars, name=name, state="renewed", token=token)
                    if not renewed["acquired"]:
                        return  # taken over, or released: nothing left to keep
                except Exception:  # pylint: disable=broad-exception-caught
                    pass  # the connection is lost for now: the lease runs out unless it comes back
                renew_at = time.monotonic() + interval
            time.sleep(1)
        for _attempt in range(3):
            try:
                self._lock_alone(task_vars, name=name, state="released", token=token)
                return
            except Exception:  # pylint: disable=broad-exception-caught
                time.sleep(2)
