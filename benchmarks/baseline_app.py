"""The baseline of ``make bench``: the least a request can cost on this machine.

One indexed SELECT and one INSERT on the same PostgreSQL, behind the same gunicorn, with no
framework work of ours: a Salesync call is read against it. Served by
``gunicorn benchmarks.baseline_app:app`` with ``BASELINE_DSN`` set (``scenarios.baseline``).
"""

from __future__ import annotations

import os

import psycopg2.pool
from flask import Flask, Response, jsonify

pool = psycopg2.pool.ThreadedConnectionPool(1, 8, os.environ["BASELINE_DSN"])
app = Flask(__name__)


@app.post("/baseline")
def baseline() -> Response:
    conn = pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM bench_baseline WHERE id = %s", (1,))
            cur.fetchone()
            cur.execute("INSERT INTO bench_baseline (note) VALUES ('x') RETURNING id")
            row = cur.fetchone()
        conn.commit()
    finally:
        pool.putconn(conn)
    assert row is not None
    return jsonify({"id": row[0]})
