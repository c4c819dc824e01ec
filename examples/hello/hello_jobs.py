"""Jobs of the example: a queue of files in the application's instance
folder (shared between releases), so the example needs no broker.

The web application enqueues a job (``enqueue``); a worker
(``hello_worker.py``) takes the oldest one, runs it and writes its result,
which the web application reads back (``result``). A job is taken by
renaming its file, so several workers never run the same job.
"""

import json
import os
import time
import uuid

ROOT = os.path.join(os.environ.get("HELLO_INSTANCE", "instance"), "jobs")
QUEUE, RUNNING, DONE = (os.path.join(ROOT, part) for part in ("queue", "running", "done"))


def write(path, data):
    """Write DATA as JSON to PATH at once: readers see all of it or none."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    part = f"{path}.{os.getpid()}.part"
    with open(part, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.rename(part, path)


def enqueue(seconds, release):
    job = {"id": uuid.uuid4().hex, "seconds": seconds, "enqueued": time.time(), "enqueued_by": release}
    write(os.path.join(QUEUE, f"{time.time_ns()}-{job['id']}.json"), job)
    return job["id"]


def state(job_id):
    """The job's result once done, else where it is."""
    try:
        with open(os.path.join(DONE, f"{job_id}.json"), encoding="utf-8") as handle:
            return dict(json.load(handle), state="done")
    except FileNotFoundError:
        pass
    for folder, name in ((RUNNING, "running"), (QUEUE, "queued")):
        if os.path.isdir(folder) and any(job_id in entry for entry in os.listdir(folder)):
            return {"id": job_id, "state": name}
    return {"id": job_id, "state": "unknown"}
