"""The worker of the example: an RQ worker on the example's queue
(hello_jobs), which says on start which release it runs.

``rq worker --url redis://127.0.0.1:6379/0 hello``, run in the release,
does the same work. On SIGTERM (a deploy, a stop) RQ finishes the job it
holds, then exits: the job ends on the release it started on, and the
jobs still queued wait in Redis for the next worker.

    python hello_worker.py
"""

import os

from rq import Worker

import hello_jobs
from hello import RELEASE


def main():
    print(f"worker {os.environ.get('FLASKOPS_INSTANCE', '1')} of release {RELEASE} in {os.getcwd()} ready",
          flush=True)
    Worker([hello_jobs.QUEUE], connection=hello_jobs.connection()).work()


if __name__ == "__main__":
    main()
