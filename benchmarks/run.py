"""Table-cycle benchmark through the BFF on the distributed stack (``make bench``).

Scenario per cycle, like a cashier at a table: open the table with 3 items (``POST /orders/``),
view the unpaid tables (``GET /orders/unpaids``), edit the order (``PUT /orders/``), pay
(``POST /sales/``). Closed loop at 16 and 64 clients (saturation), then an open loop at a fixed
offered load (cycles start on a schedule; latency counts from the scheduled start, so a slow
server cannot hide its queueing). A baseline row (minimal Flask + gunicorn: one indexed SELECT and
one INSERT on the same PostgreSQL) shows the practical ceiling of this stack on this machine.
Writes ``benchmarks/report.md`` and ``benchmarks/report.json``; prints every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from devstack import postgres
from devstack.stack import REPO, Stack
from devstack.testing import free_port

OUT = Path(__file__).resolve().parent
CALLS = ("open", "unpaids", "edit", "pay")


class Recorder:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def add(self, call: str, seconds: float, ok: bool) -> None:
        with self.lock:
            self.samples[call].append(seconds)
            if not ok:
                self.errors[call] += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def summary(recorder: Recorder, elapsed: float) -> dict[str, dict[str, float]]:
    result = {}
    for call, values in recorder.samples.items():
        result[call] = {
            "count": len(values),
            "errors": recorder.errors.get(call, 0),
            "rps": round(len(values) / elapsed, 1),
            "p50_ms": round(percentile(values, 50) * 1000, 1),
            "p95_ms": round(percentile(values, 95) * 1000, 1),
            "p99_ms": round(percentile(values, 99) * 1000, 1),
            "mean_ms": round(statistics.fmean(values) * 1000, 1),
        }
    return result


class Client:
    def __init__(self, base: str, token: str, items: list[int], table: int) -> None:
        self.base, self.items, self.table = base, items, table
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "X-CSRF-Token": "bench",
                "Content-Type": "application/json",
            }
        )

    def timed(
        self,
        recorder: Recorder,
        call: str,
        method: str,
        path: str,
        body: object = None,
        started: float | None = None,
    ) -> requests.Response | None:
        begin = started if started is not None else time.perf_counter()
        try:
            response = self.session.request(method, self.base + path, json=body, timeout=30)
            ok = response.status_code < 400 and response.json().get("result") != "failed"
        except requests.RequestException:
            response, ok = None, False
        recorder.add(call, time.perf_counter() - begin, ok)
        return response

    def cycle(self, recorder: Recorder, scheduled: float | None = None) -> None:
        carts = [{"item_id": item, "quantity": 1 + i} for i, item in enumerate(self.items[:3])]
        self.timed(
            recorder,
            "open",
            "POST",
            "/orders/",
            {"table_no": self.table, "carts": carts},
            scheduled,
        )
        self.timed(recorder, "unpaids", "GET", "/orders/unpaids")
        carts[0]["quantity"] += 1
        edited = self.timed(
            recorder, "edit", "PUT", "/orders/", {"table_no": self.table, "carts": carts}
        )
        del edited
        total = sum(c["quantity"] * 1000 * (i + 1) for i, c in enumerate(carts))
        self.timed(
            recorder,
            "pay",
            "POST",
            "/sales/",
            {"table_no": self.table, "payment_type": "카드", "total_price": total},
        )


def setup_store(base: str, tables: int) -> tuple[str, list[int]]:
    session = requests.Session()
    session.trust_env = False
    name = f"bench-{uuid.uuid4().hex[:8]}"
    created = session.post(
        f"{base}/stores/",
        json={
            "username": name,
            "password": "bench-password",
            "owner_name": "벤치",
            "phone": "01000000000",
            "store_name": "벤치 가게",
            "address": "서울",
            "store_type": "일반음식점",
        },
        timeout=30,
    ).json()
    token = created["token"]["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    category = session.post(
        f"{base}/categories/", json={"name": "메뉴"}, headers=headers, timeout=30
    ).json()["id"]
    items = [
        session.post(
            f"{base}/categories/{category}/items",
            json={"name": f"메뉴{i}", "price": 1000 * i},
            headers=headers,
            timeout=30,
        ).json()["id"]
        for i in (1, 2, 3)
    ]
    return token, items


def closed_loop(base: str, token: str, items: list[int], clients: int, seconds: float) -> dict:
    recorder = Recorder()
    stop = time.monotonic() + seconds

    def worker(index: int) -> int:
        client = Client(base, token, items, table=index + 1)
        cycles = 0
        while time.monotonic() < stop:
            client.cycle(recorder)
            cycles += 1
        return cycles

    started = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        cycles = sum(pool.map(worker, range(clients)))
    elapsed = time.monotonic() - started
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "cycles_per_s": round(cycles / elapsed, 1),
        "calls": summary(recorder, elapsed),
    }


def open_loop(base: str, token: str, items: list[int], rate: float, seconds: float) -> dict:
    recorder = Recorder()
    total = int(rate * seconds)
    tables = iter(range(100, 100 + total))
    lock = threading.Lock()
    start = time.perf_counter() + 0.5

    def one(index: int) -> None:
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        with lock:
            table = next(tables)
        Client(base, token, items, table).cycle(recorder, scheduled)

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(one, range(total)))
    elapsed = time.perf_counter() - start
    return {
        "offered_cycles_per_s": rate,
        "seconds": round(elapsed, 1),
        "calls": summary(recorder, elapsed),
    }


BASELINE_APP = """
import os, psycopg2.pool
from flask import Flask, jsonify
pool = psycopg2.pool.ThreadedConnectionPool(1, 8, os.environ["BASELINE_DSN"])
app = Flask(__name__)
@app.post("/baseline")
def baseline():
    conn = pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM bench_baseline WHERE id = %s", (1,))
            cur.fetchone()
            cur.execute("INSERT INTO bench_baseline (note) VALUES ('x') RETURNING id")
            new_id = cur.fetchone()[0]
        conn.commit()
    finally:
        pool.putconn(conn)
    return jsonify({"id": new_id})
"""


def baseline(clients: int, seconds: float) -> dict:
    import psycopg2

    dsn = postgres.admin_url("bench_baseline")
    admin = psycopg2.connect(postgres.admin_url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS bench_baseline")
        cur.execute("CREATE DATABASE bench_baseline")
    admin.close()
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, note text)")
        cur.execute("INSERT INTO bench_baseline (note) VALUES ('seed')")
    app_dir = REPO / "var" / "bench"
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "baseline_app.py").write_text(BASELINE_APP)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "--threads",
            "4",
            "-k",
            "gthread",
            "-b",
            f"127.0.0.1:{port}",
            "baseline_app:app",
        ],
        cwd=app_dir,
        env={**os.environ, "BASELINE_DSN": dsn},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/baseline"
    try:
        for _ in range(100):
            try:
                requests.post(url, timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        recorder = Recorder()
        stop = time.monotonic() + seconds

        def worker(_: int) -> None:
            session = requests.Session()
            while time.monotonic() < stop:
                begin = time.perf_counter()
                ok = session.post(url, timeout=30).status_code == 200
                recorder.add("baseline", time.perf_counter() - begin, ok)

        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(worker, range(clients)))
        return {"clients": clients, "calls": summary(recorder, time.monotonic() - started)}
    finally:
        process.terminate()
        process.wait(timeout=10)


def render(report: dict) -> str:
    lines = [
        "# Salesync benchmark report",
        "",
        f"Run {report['when']} on this 2-core machine (load generator included). "
        "All calls through the BFF on the distributed stack (gunicorn per service).",
        "",
    ]
    base_rps = report["baseline"]["calls"]["baseline"]["rps"]
    lines += [
        "## Baseline",
        "",
        "Minimal Flask+gunicorn, one indexed SELECT + one INSERT, 16 clients: "
        f"**{base_rps} req/s**, "
        f"p50 {report['baseline']['calls']['baseline']['p50_ms']} ms, "
        f"p99 {report['baseline']['calls']['baseline']['p99_ms']} ms.",
        "",
    ]
    for run in report["closed"]:
        lines += [
            f"## Closed loop, {run['clients']} clients ({run['cycles_per_s']} cycles/s)",
            "",
            "| call | req/s | p50 ms | p95 ms | p99 ms | errors | % of baseline req/s |",
            "|---|---|---|---|---|---|---|",
        ]
        for call in CALLS:
            c = run["calls"].get(call)
            if c:
                lines.append(
                    f"| {call} | {c['rps']} | {c['p50_ms']} | {c['p95_ms']} | {c['p99_ms']} | "
                    f"{c['errors']} | {round(100 * c['rps'] / base_rps, 1)}% |"
                )
        lines.append("")
    for run in report["open"]:
        lines += [
            f"## Open loop, {run['offered_cycles_per_s']} cycles/s offered",
            "",
            "| call | p50 ms | p95 ms | p99 ms | errors |",
            "|---|---|---|---|---|",
        ]
        for call in CALLS:
            c = run["calls"].get(call)
            if c:
                lines.append(
                    f"| {call} | {c['p50_ms']} | {c['p95_ms']} | {c['p99_ms']} | {c['errors']} |"
                )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rates", default="20", help="open-loop cycles/s, comma separated")
    args = parser.parse_args()
    stack = Stack(
        dbname=f"salesync_bench_{uuid.uuid4().hex[:6]}",
        port_offset=2000,
        run_dir=REPO / "var" / "bench" / "stack",
        kafka=True,
        extra_env={"RATE_LIMITS_ENABLED": "false", "STACK_LOG_LEVEL": "WARNING"},
    )
    stack.run_dir.mkdir(parents=True, exist_ok=True)
    stack.start()
    try:
        base = stack.url("bff")
        token, items = setup_store(base, 64)
        report = {
            "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "baseline": baseline(16, args.seconds),
            "closed": [],
            "open": [],
        }
        print(json.dumps(report["baseline"], ensure_ascii=False))
        for clients in (16, 64):
            run = closed_loop(base, token, items, clients, args.seconds)
            print(json.dumps(run, ensure_ascii=False))
            report["closed"].append(run)
        for rate in (float(r) for r in args.rates.split(",")):
            run = open_loop(base, token, items, rate, args.seconds)
            print(json.dumps(run, ensure_ascii=False))
            report["open"].append(run)
    finally:
        stack.stop()
        postgres.drop_database(stack.dbname)
    (OUT / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (OUT / "report.md").write_text(render(report))
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
