"""The worker of the example: runs the jobs the web application enqueues
(hello_jobs), one at a time, and writes each result with the release that
ran it.

On SIGTERM (a deploy, a stop) it finishes the job it holds, then exits. A
job left running by an instance killed before it finished goes back to
the queue when that instance starts again.

    python hello_worker.py
"""

import json
import os
import signal
import time

import hello_jobs
from hello import RELEASE

INSTANCE = os.environ.get("FLASKOPS_INSTANCE", "1")
stopping = False


def stop(_signal, _frame):
    global stopping  # pylint: disable=global-statement
    stopping = True


def take():
    """Take the oldest queued job, or None."""
    try:
        names = sorted(os.listdir(hello_jobs.QUEUE))
    except FileNotFoundError:
        return None, None
    for name in names:
        if not name.endswith(".json"):
            continue
        running = os.path.join(hello_jobs.RUNNING, f"{INSTANCE}--{name}")
        try:
            os.rename(os.path.join(hello_jobs.QUEUE, name), running)
        except FileNotFoundError:
            continue  # another worker took it
        with open(running, encoding="utf-8") as handle:
            return json.load(handle), running
    return None, None


def requeue_own():
    """Put back the jobs this instance held when it was killed."""
    if not os.path.isdir(hello_jobs.RUNNING):
        return
    for name in os.listdir(hello_jobs.RUNNING):
        if name.startswith(f"{INSTANCE}--"):
            os.rename(os.path.join(hello_jobs.RUNNING, name),
                      os.path.join(hello_jobs.QUEUE, name.split("--", 1)[1]))


def main():
    signal.signal(signal.SIGTERM, stop)
    for folder in (hello_jobs.QUEUE, hello_jobs.RUNNING, hello_jobs.DONE):
        os.makedirs(folder, exist_ok=True)
    requeue_own()
    print(f"worker {INSTANCE} of release {RELEASE} in {os.getcwd()} ready", flush=True)
    while not stopping:
        job, running = take()
        if job is None:
            time.sleep(0.2)
            continue
        started = time.time()
        time.sleep(float(job.get("seconds", 0)))
        hello_jobs.write(os.path.join(hello_jobs.DONE, f"{job['id']}.json"), dict(
            job, release=RELEASE, worker=INSTANCE, pid=os.getpid(), folder=os.getcwd(),
            started=started, finished=time.time()))
        os.unlink(running)
        print(f"job {job['id']} done in {time.time() - started:.1f} s by release {RELEASE}", flush=True)
    print(f"worker {INSTANCE} of release {RELEASE} stopped", flush=True)


if __name__ == "__main__":
    main()
