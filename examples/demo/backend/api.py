"""The HTTP JSON API: /health, POST /jobs (enqueue), GET /jobs/<id>."""
from flask import Flask, jsonify, request

from backend.db import QUEUE, pg, queue

app = Flask(__name__)


@app.get("/health")
def health():
    with pg() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    queue().ping()
    return jsonify(ok=True)


@app.post("/jobs")
def create_job():
    body = request.get_json(force=True, silent=True) or {}
    text = str(body.get("text", ""))
    with pg() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO jobs (text) VALUES (%s) RETURNING id", (text,))
        job_id = cur.fetchone()[0]
    queue().rpush(QUEUE, job_id)
    return jsonify(id=job_id, status="queued"), 201


@app.get("/jobs/<int:job_id>")
def get_job(job_id):
    with pg() as conn, conn.cursor() as cur:
        cur.execute("SELECT id, text, status, result FROM jobs WHERE id = %s", (job_id,))
        row = cur.fetchone()
    if row is None:
        return jsonify(error="no such job"), 404
    return jsonify(id=row[0], text=row[1], status=row[2], result=row[3])


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=8000)
