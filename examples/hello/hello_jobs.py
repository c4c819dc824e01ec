"""Jobs of the example, on RQ with Redis.

The web application enqueues a job (``enqueue``) on the RQ queue
``HELLO_QUEUE`` (``hello``) of the Redis server at ``HELLO_REDIS_URL``
(``redis://127.0.0.1:6379/0``). A worker (``hello_worker.py``, or
``rq worker --url URL hello`` run in the release) runs ``work`` and keeps
its result, which the web application reads back (``state``). The
collection does not install or manage Redis: the server runs it.
"""

import os
import time
import uuid

from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

REDIS_URL = os.environ.get("HELLO_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = os.environ.get("HELLO_QUEUE", "hello")
# What GET /jobs/<id> calls RQ's states.
STATES = {"queued": "queued", "started": "running", "finished": "done", "failed": "failed"}


def connection():
    return Redis.from_url(REDIS_URL)


def work(seconds, enqueued_by):
    """The job: takes SECONDS, then says which release ran it, and where."""
    from hello import RELEASE  # pylint: disable=import-outside-toplevel  # the worker's release, read when it runs

    started = time.time()
    time.sleep(seconds)
    return {"enqueued_by": enqueued_by, "release": RELEASE, "worker": os.environ.get("FLASKOPS_INSTANCE", ""),
            "pid": os.getpid(), "folder": os.getcwd(), "started": started, "finished": time.time()}


def enqueue(seconds, release):
    # An id of letters and digits only, as GET /jobs/<id> takes.
    job = Queue(QUEUE, connection=connection()).enqueue(
        work, seconds, release, job_id=uuid.uuid4().hex,
        job_timeout=max(60, int(seconds) * 2), result_ttl=86400, failure_ttl=86400)
    return job.id


def state(job_id):
    """The job's result once done, else where it is."""
    try:
        job = Job.fetch(job_id, connection=connection())
    except NoSuchJobError:
        return {"id": job_id, "state": "unknown"}
    status = STATES.get(str(job.get_status().value), str(job.get_status().value))
    if status == "done":
        return dict(job.return_value(), id=job_id, state=status)
    return {"id": job_id, "state": status}
