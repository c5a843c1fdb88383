"""Creates the schema; runs as a oneshot job before the api and the worker."""
from backend.db import pg

with pg() as conn, conn.cursor() as cur:
    cur.execute(
        """CREATE TABLE IF NOT EXISTS jobs (
             id      serial PRIMARY KEY,
             text    text NOT NULL,
             status  text NOT NULL DEFAULT 'queued',
             result  text,
             created timestamptz NOT NULL DEFAULT now(),
             done    timestamptz)"""
    )
print("migrate: schema ready")
