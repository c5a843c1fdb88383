"""The worker: takes job ids from the Redis queue, writes results to Postgres."""
from backend.db import QUEUE, pg, queue

print("worker: waiting for jobs", flush=True)
q = queue()
while True:
    _, job_id = q.blpop(QUEUE)
    with pg() as conn, conn.cursor() as cur:
        cur.execute("SELECT text FROM jobs WHERE id = %s", (job_id,))
        row = cur.fetchone()
        if row is None:
            continue
        result = f"{row[0].upper()} ({len(row[0])} chars, by the worker)"
        cur.execute("UPDATE jobs SET status = 'done', result = %s, done = now() WHERE id = %s", (result, job_id))
    print(f"worker: job {job_id} done", flush=True)
