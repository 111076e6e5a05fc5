"""The benchmark suite through the ingress (nginx) of the distributed stack (``make bench``).

1. Start the stack on its own ports (``port_offset=2000``, rate limits off), create the stores
   and menus through the public API and bulk-load history with SQL (``benchmarks/seed.py``):
   three stores with a year of history (10k, 100k and 1M order lines) and a busy day for ten stores.
2. Baseline: a minimal Flask + gunicorn endpoint (one indexed SELECT + one INSERT on the same
   PostgreSQL), driven by Locust like everything else: the practical ceiling of this machine.
3. Table cycle (open with 3 items, view unpaid tables, edit, pay) with Locust, closed loop at 16
   and 64 users spread over the ten busy stores, py-spy sampling the order and sale services.
4. Open loop at a fixed offered load (20 cycles/s). Locust cannot do this: its ``constant_pacing``
   / ``constant_throughput`` still wait for the previous response (a slow server lowers the offered
   load) and it times each request from its own send, hiding the queueing. So this part uses a
   thread scheduler that starts each cycle at its scheduled instant and measures from that instant.
5. Dashboard (Locust, 4 users): ``/bff/sales`` for a day and a month, ``/bff/volumes`` for 365
   days on the 100k-line store, py-spy sampling the dashboard and the order service; then the
   growth of the 365-day volumes call over 10k / 100k / 1M lines (sequential calls, unloaded).
6. Consulting delivery: 30 requests (different periods), delivery = the dashboard row's
   ``received_at`` - the consulting row's ``completed_at`` (commit of the result; model time
   excluded), plus the client's view (ask -> advice readable, polling the public endpoint).

Writes ``benchmarks/report.md`` and ``benchmarks/report.json``; prints every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import requests

from benchmarks import seed
from devstack import postgres
from devstack.stack import REPO, Stack
from devstack.testing import free_port

OUT = Path(__file__).resolve().parent
WORK = REPO / "var" / "bench"
CALLS = ("open", "unpaids", "edit", "pay")
WARMUP_S = 2.0  # Locust samples of the first seconds (connections, ramp-up) are left out
GROWTH = (("10k", 10_000), ("100k", 100_000), ("1M", 1_000_000))
BUSY_STORES, BUSY_ORDERS, OPEN_TABLES = 10, 400, 8


# --------------------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def stats(values: list[float], errors: int, elapsed: float) -> dict[str, float]:
    return {
        "count": len(values),
        "errors": errors,
        "rps": round(len(values) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p95_ms": round(percentile(values, 95) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1) if values else float("nan"),
    }


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

    def summary(self, elapsed: float) -> dict[str, dict[str, float]]:
        return {
            call: stats(values, self.errors.get(call, 0), elapsed)
            for call, values in self.samples.items()
        }


# --------------------------------------------------------------------------- Locust


def run_locust(
    host: str, user_class: str, users: int, seconds: float, env: dict[str, str]
) -> dict[str, Any]:
    """Headless Locust (own process: gevent patches); exact percentiles from its raw samples."""
    out = WORK / f"locust-{user_class}-{uuid.uuid4().hex[:6]}.json"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(OUT / "locustfile.py"),
        "--headless",
        "--only-summary",
        "--loglevel",
        "ERROR",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{int(seconds + WARMUP_S)}s",
        "--stop-timeout",
        "5",
        "--host",
        host,
        user_class,
    ]
    subprocess.run(
        command,
        env={**os.environ, **env, "BENCH_OUT": str(out)},
        cwd=REPO,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=seconds + 120,
    )
    samples = json.loads(out.read_text())
    out.unlink()
    first = min(s[1] for s in samples)
    begin = first + WARMUP_S
    kept = [s for s in samples if s[1] >= begin]
    end = max(s[1] + s[2] for s in kept)
    recorder = Recorder()
    for name, _, seconds_taken, ok in kept:
        recorder.add(name, seconds_taken, ok)
    elapsed = end - begin
    return {
        "tool": "locust 2.47.0",
        "users": users,
        "seconds": round(elapsed, 1),
        "calls": recorder.summary(elapsed),
    }


# --------------------------------------------------------------------------- py-spy


def start_profile(stack: Stack, service: str, seconds: float) -> tuple[subprocess.Popen, Path]:
    """py-spy on the service's gunicorn master and its workers (non-blocking sampling)."""
    pid = int((stack.run_dir / f"{service}.pid").read_text())
    out = WORK / f"pyspy-{service}-{uuid.uuid4().hex[:6]}.txt"
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    process = subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--full-filenames",
            "--rate",
            "100",
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, out


FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")


def _component(path: str) -> str:
    """Where a frame lives: a package under site-packages, a repo package, or the stdlib."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if path.startswith(str(REPO)):
        parts = Path(path).relative_to(REPO).parts
        return "salesync_common" if parts[0] == "common" else parts[0]
    return "stdlib:" + Path(path).stem


def _short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", f"{REPO}/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path}:{match['line'] or '?'})"


def parse_profile(path: Path, top: int = 12) -> dict[str, Any]:
    """Top self frames, top inclusive frames of our code, and CPU share per package."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {"samples": 0}
    for raw in path.read_text(errors="replace").splitlines():
        stack, _, count_text = raw.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        matches = [(f, m) for f in stack.split(";") if (m := FRAME.match(f))]
        if not matches:
            continue
        frames = [f for f, _ in matches]
        total += count
        leaf, leaf_match = matches[-1]
        self_time[_short(leaf)] += count
        packages[_component(leaf_match["file"])] += count
        seen = set()
        for frame in frames:
            match = FRAME.match(frame)
            if match and match["file"].startswith(str(REPO)):
                short = _short(frame).rsplit(":", 1)[0] + ")"  # per function, not per line
                if short not in seen:
                    seen.add(short)
                    inclusive[short] += count

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "by_package_pct": share(packages),
        "top_self_pct": share(self_time),
        "top_inclusive_own_code_pct": share(inclusive),
    }


# --------------------------------------------------------------------------- baseline

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


def baseline(users: int, seconds: float) -> dict[str, Any]:
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
    (WORK / "baseline_app.py").write_text(BASELINE_APP)
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "4", "-k", "gthread"),
            *("-b", f"127.0.0.1:{port}", "baseline_app:app"),
        ],
        cwd=WORK,
        env={**os.environ, "BASELINE_DSN": dsn},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.post(url + "/baseline", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        return run_locust(url, "BaselineUser", users, seconds, {})
    finally:
        process.terminate()
        process.wait(timeout=10)


# --------------------------------------------------------------------------- scenarios


def _session(token: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers.update(
        {
            "Authorization": f"Bearer {token}",
            "X-CSRF-Token": "bench",
            "Content-Type": "application/json",
        }
    )
    return session


def _stores_env(stores: list[seed.SeededStore]) -> dict[str, str]:
    return {"BENCH_STORES": json.dumps([{"token": s.token, "items": s.item_ids} for s in stores])}


def closed_loop(
    stack: Stack, stores: list[seed.SeededStore], users: int, seconds: float, profile: bool
) -> dict[str, Any]:
    spies: list[tuple[subprocess.Popen[bytes], Path]] = []
    if profile:
        # Sample the steady state only: start after the warm-up, stop before the end.
        def later() -> None:
            time.sleep(WARMUP_S + 1)
            spies.extend(start_profile(stack, name, seconds - 3) for name in ("order", "sale"))

        threading.Thread(target=later, daemon=True).start()
    run = run_locust(stack.url(), "TableCycleUser", users, seconds, _stores_env(stores))
    run["cycles_per_s"] = run["calls"].get("pay", {}).get("rps", 0.0)
    if profile:
        run["profile"] = {}
        for (process, path), name in zip(spies, ("order", "sale"), strict=True):
            process.wait(timeout=60)
            run["profile"][name] = parse_profile(path)
    return run


def order_creation(stack: Stack, stores: list[seed.SeededStore], seconds: float) -> dict[str, Any]:
    """Closed loop, 16 users, POST /orders/ only: each opens a new order on a free table."""
    return run_locust(stack.url(), "OrderCreationUser", 16, seconds, _stores_env(stores))


def open_loop(stack: Stack, stores: list[seed.SeededStore], rate: float, seconds: float) -> dict:
    """Cycles start on a fixed schedule; each call's latency counts from the cycle's start."""
    base = stack.url()
    recorder = Recorder()
    total = int(rate * seconds)
    local = threading.local()
    start = time.perf_counter() + 0.5

    def timed(call: str, method: str, path: str, body: object, began: float) -> None:
        try:
            response = local.session.request(method, base + path, json=body, timeout=30)
            ok = response.status_code < 400 and response.json().get("result") != "failed"
        except (requests.RequestException, ValueError):
            ok = False
        recorder.add(call, time.perf_counter() - began, ok)

    def one(index: int) -> None:
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        store = stores[index % len(stores)]
        if getattr(local, "token", None) != store.token:
            local.session, local.token = _session(store.token), store.token
        table = 1000 + index
        carts = [{"item_id": item, "quantity": 1 + i} for i, item in enumerate(store.item_ids[:3])]
        timed("open", "POST", "/orders/", {"table_no": table, "carts": carts}, scheduled)
        timed("unpaids", "GET", "/orders/unpaids", None, time.perf_counter())
        carts[0]["quantity"] += 1
        timed("edit", "PUT", "/orders/", {"table_no": table, "carts": carts}, time.perf_counter())
        price = sum(c["quantity"] * 1000 * (i + 1) for i, c in enumerate(carts))
        body = {"table_no": table, "payment_type": "카드", "total_price": price}
        timed("pay", "POST", "/sales/", body, time.perf_counter())

    with ThreadPoolExecutor(128) as pool:
        list(pool.map(one, range(total)))
    elapsed = time.perf_counter() - start
    return {
        "tool": "thread scheduler (open loop)",
        "offered_cycles_per_s": rate,
        "seconds": round(elapsed, 1),
        "calls": recorder.summary(elapsed),
    }


def dashboard_paths(end: date) -> dict[str, str]:
    year = (end - timedelta(days=364)).isoformat()
    month = (end - timedelta(days=29)).isoformat()
    return {
        "sales_day": f"/bff/sales?start={end}&end={end}",
        "sales_month": f"/bff/sales?start={month}&end={end}",
        "volumes_365": f"/bff/volumes?start={year}&end={end}",
    }


def dashboard(stack: Stack, store: seed.SeededStore, end: date, seconds: float) -> dict:
    runs = {}
    for name, path in dashboard_paths(end).items():
        spies = []
        if name == "volumes_365":
            spies = [(n, *start_profile(stack, n, seconds)) for n in ("dashboard", "order")]
        env = {"BENCH_TOKEN": store.token, "BENCH_PATH": path, "BENCH_NAME": name}
        runs[name] = run_locust(stack.url(), "DashboardUser", 4, seconds, env)
        if spies:
            runs[name]["profile"] = {}
            for service, process, out in spies:
                process.wait(timeout=60)
                runs[name]["profile"][service] = parse_profile(out)
        print(json.dumps({name: runs[name]["calls"]}, ensure_ascii=False), flush=True)
    return runs


def growth(stack: Stack, stores: dict[str, seed.SeededStore], end: date) -> dict:
    """365-day volumes, sequential (no concurrency): how latency grows with the history."""
    path = dashboard_paths(end)["volumes_365"]
    result = {}
    for label, _ in GROWTH:
        store = stores[label]
        session = _session(store.token)
        session.get(stack.url() + path, timeout=120)  # warm (plans, connections)
        recorder = Recorder()
        count = 8 if label == "1M" else 20
        started = time.perf_counter()
        for _ in range(count):
            began = time.perf_counter()
            response = session.get(stack.url() + path, timeout=120)
            recorder.add("volumes_365", time.perf_counter() - began, response.status_code == 200)
        summary = recorder.summary(time.perf_counter() - started)["volumes_365"]
        summary["order_lines"] = store.stats["order_lines"]
        result[label] = summary
        print(json.dumps({"growth": label, **summary}), flush=True)
    return result


def consulting(dbname: str, stack: Stack, store: seed.SeededStore, end: date, n: int) -> dict:
    """Delivery latency of n consulting results (distinct periods, so none are deduplicated)."""
    base = stack.url()
    session = _session(store.token)
    client_view: list[float] = []
    req_ids = []
    for i in range(n):
        last = end - timedelta(days=i)
        period = {"start": (last - timedelta(days=6)).isoformat(), "end": last.isoformat()}
        asked = time.time()
        req_id = session.get(f"{base}/consulting/", params=period, timeout=30).json()["req_id"]
        req_ids.append(req_id)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            body = session.get(f"{base}/dashboard/consulting/{req_id}", timeout=30).json()
            if body.get("result") == "success":
                client_view.append(time.time() - asked)
                break
            time.sleep(0.01)
    completed = _query(
        "consulting",
        dbname,
        "SELECT req_id, extract(epoch FROM completed_at) FROM consulting.consulting_requests"
        " WHERE req_id = ANY(%s)",
        req_ids,
    )
    received = _query(
        "dashboard",
        dbname,
        "SELECT req_id, extract(epoch FROM received_at) FROM dashboard.consulting_results"
        " WHERE req_id = ANY(%s)",
        req_ids,
    )
    delivery = [
        float(received[r]) - float(completed[r])
        for r in req_ids
        if r in received and completed.get(r) is not None
    ]
    missing = n - len(delivery)
    return {
        "requests": n,
        "delivered": len(delivery),
        "commit_to_dashboard": stats(delivery, missing, 1.0) | {"rps": None},
        "ask_to_readable_client_view": stats(client_view, n - len(client_view), 1.0)
        | {"rps": None},
    }


def _query(schema: str, dbname: str, sql: str, req_ids: list[str]) -> dict[str, Any]:
    conn = psycopg2.connect(postgres.service_url(schema, dbname))
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, (req_ids,))
            return dict(cur.fetchall())
    finally:
        conn.close()


# --------------------------------------------------------------------------- seeding


def load_data(base: str, dbname: str) -> tuple[dict[str, seed.SeededStore], list, dict]:
    began = time.perf_counter()
    labels = [label for label, _ in GROWTH] + [f"busy{i}" for i in range(BUSY_STORES)]
    with ThreadPoolExecutor(4) as pool:
        created = dict(
            zip(labels, pool.map(lambda lb: seed.create_store(base, lb), labels), strict=True)
        )
    api_seconds = time.perf_counter() - began
    end = seed.today_local() - timedelta(days=1)
    history = {}
    for label, lines in GROWTH:
        history[label] = seed.seed_history(dbname, created[label], lines, 365, end)
        print(json.dumps({"seeded": label, **history[label]}), flush=True)
    busy = [created[f"busy{i}"] for i in range(BUSY_STORES)]
    for store in busy:
        seed.seed_busy_day(dbname, store, BUSY_ORDERS, OPEN_TABLES)
    analyze_began = time.perf_counter()
    seed.analyze(dbname)
    info = {
        "stores_via_api": len(labels),
        "api_seconds": round(api_seconds, 1),
        "history": history,
        "busy_day": {
            "stores": BUSY_STORES,
            "paid_orders_each": BUSY_ORDERS,
            "open_tables_each": OPEN_TABLES,
            "order_lines_each": busy[0].stats["order_lines"],
        },
        "vacuum_analyze_seconds": round(time.perf_counter() - analyze_began, 1),
        "total_seconds": round(time.perf_counter() - began, 1),
    }
    return created, busy, info


# --------------------------------------------------------------------------- report


def ratio(value: float | None, base: float) -> str:
    if value is None or base in (0, None) or value != value:
        return "–"
    return f"{value / base:.2f}×"


def render(report: dict[str, Any]) -> str:
    b = report["baseline"]["calls"]["baseline"]
    brps, bp50 = b["rps"], b["p50_ms"]
    lines = [
        "# Salesync benchmark report",
        "",
        f"Run {report['when']} on this 2-core machine (load generator, PostgreSQL, Kafka and all",
        "seven gunicorn services share the two cores). Every call goes through nginx on the",
        "distributed stack (`devstack.stack`, 2 workers × 4 threads per service, rate limits off).",
        "Generated by `make bench` (`benchmarks/run.py`); raw figures in `report.json`.",
        "Ratios: req/s as a fraction of the baseline's req/s; latency as a multiple of its p50.",
        "",
        "## Data",
        "",
    ]
    data = report["data"]
    lines.append(
        f"{data['stores_via_api']} stores with menus created through the public API in "
        f"{data['api_seconds']} s; history bulk-loaded with SQL (`benchmarks/seed.py`):"
    )
    lines += [
        "",
        "| store | orders | order lines | sales | refunds | days | seed s |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, h in data["history"].items():
        lines.append(
            f"| {label} | {h['orders']} | {h['order_lines']} | {h['sales']} | {h['refunds']} | "
            f"{h['first_day']} … {h['last_day']} | {h['seconds']} |"
        )
    bd = data["busy_day"]
    lines += [
        "",
        f"Busy day: {bd['stores']} stores × {bd['paid_orders_each']} paid orders "
        f"({bd['order_lines_each']} lines) today + {bd['open_tables_each']} open tables each. "
        f"VACUUM ANALYZE {data['vacuum_analyze_seconds']} s; all data loaded in "
        f"{data['total_seconds']} s.",
        "",
        "## Baseline",
        "",
        f"Minimal Flask + gunicorn (2 workers × 4 threads), one indexed SELECT + one INSERT, "
        f"{report['baseline']['users']} Locust users: **{brps} req/s**, p50 {bp50} ms, "
        f"p95 {b['p95_ms']} ms, p99 {b['p99_ms']} ms.",
        "",
    ]
    header = [
        "| call | req/s | × baseline req/s | p50 ms | p95 ms | p99 ms | p50 × baseline p50 "
        "| errors |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def row(name: str, c: dict[str, Any]) -> str:
        return (
            f"| {name} | {c['rps']} | {ratio(c['rps'], brps)} | {c['p50_ms']} | {c['p95_ms']} | "
            f"{c['p99_ms']} | {ratio(c['p50_ms'], bp50)} | {c['errors']}/{c['count']} |"
        )

    for run in report["closed"]:
        lines += [
            f"## Table cycle, closed loop, {run['users']} users ({run['cycles_per_s']} cycles/s, "
            "Locust)",
            "",
            *header,
        ]
        lines += [row(call, run["calls"][call]) for call in CALLS if call in run["calls"]]
        lines.append("")
    if "creation" in report:
        lines += ["## Order creation alone, closed loop, 16 users (Locust)", "", *header]
        lines += [row("open", report["creation"]["calls"]["open"]), ""]
    for run in report["open"]:
        lines += [
            f"## Table cycle, open loop, {run['offered_cycles_per_s']} cycles/s offered",
            "",
            "Latency from the scheduled start of the cycle for `open` (queueing included), from "
            "the previous call's end for the others.",
            "",
            *header,
        ]
        lines += [row(call, run["calls"][call]) for call in CALLS if call in run["calls"]]
        lines.append("")
    lines += [
        "## Dashboard (100k-line store, 4 Locust users)",
        "",
        *header,
    ]
    for name, run in report["dashboard"].items():
        lines.append(row(name, run["calls"][name]))
    lines += [
        "",
        "## Dashboard growth: `/bff/volumes` over 365 days, sequential calls",
        "",
        "| history | order lines | p50 ms | p95 ms | p99 ms | p50 × baseline p50 | p50 × 10k p50 |",
        "|---|---|---|---|---|---|---|",
    ]
    g = report["growth"]
    first = g[GROWTH[0][0]]["p50_ms"]
    for label, c in g.items():
        lines.append(
            f"| {label} | {c['order_lines']} | {c['p50_ms']} | {c['p95_ms']} | {c['p99_ms']} | "
            f"{ratio(c['p50_ms'], bp50)} | {ratio(c['p50_ms'], first)} |"
        )
    c = report["consulting"]
    d, v = c["commit_to_dashboard"], c["ask_to_readable_client_view"]
    lines += [
        "",
        "## Consulting delivery",
        "",
        f"{c['requests']} requests over distinct 7-day periods (10k store), {c['delivered']} "
        "delivered. Delivery = dashboard `received_at` − consulting `completed_at` (result "
        "commit → outbox relay → Kafka → dashboard consumer → row); the offline analyst ran.",
        "",
        "| measure | p50 ms | p95 ms | p99 ms | p50 × baseline p50 |",
        "|---|---|---|---|---|",
        f"| commit → stored at dashboard | {d['p50_ms']} | {d['p95_ms']} | {d['p99_ms']} | "
        f"{ratio(d['p50_ms'], bp50)} |",
        f"| ask → advice readable (client polling, model included) | {v['p50_ms']} | "
        f"{v['p95_ms']} | {v['p99_ms']} | {ratio(v['p50_ms'], bp50)} |",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    lines += [f"| {t['target']} | {t['measured']} | {t['verdict']} |" for t in report["targets"]]
    lines += ["", "## Profile", "", report.get("profile_notes", ""), ""]
    for title, prof in report["profiles"].items():
        if not prof.get("samples"):
            lines += [f"### {title}", "", "no samples", ""]
            continue
        lines += [
            f"### {title} ({prof['samples']} samples, CPU-active threads only)",
            "",
            "CPU by package (leaf frame): "
            + ", ".join(f"{name} {pct}%" for name, pct in prof["by_package_pct"][:8]),
            "",
            "| top self frames | % | top inclusive frames in our code | % |",
            "|---|---|---|---|",
        ]
        selfs, incl = prof["top_self_pct"][:10], prof["top_inclusive_own_code_pct"][:10]
        for i in range(max(len(selfs), len(incl))):
            s = selfs[i] if i < len(selfs) else ["", ""]
            n = incl[i] if i < len(incl) else ["", ""]
            lines.append(f"| `{s[0]}` | {s[1]} | `{n[0]}` | {n[1]} |")
        lines.append("")
    lines += [f"Whole run: {report['total_seconds']} s.", ""]
    return "\n".join(lines)


def targets(report: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    opened = report["open"][0]["calls"]
    worst = max(opened["open"]["p99_ms"], opened["pay"]["p99_ms"])
    out.append(
        {
            "target": "open loop 20 cycles/s: order and pay p99 ≤ 100 ms",
            "measured": f"open p99 {opened['open']['p99_ms']} ms, pay p99 "
            f"{opened['pay']['p99_ms']} ms",
            "verdict": "met" if worst <= 100 else "MISSED",
        }
    )
    base = report["baseline"]["calls"]["baseline"]["rps"]
    orders = report["creation"]["calls"]["open"]["rps"]
    in_cycle = report["closed"][0]["calls"]["open"]["rps"]
    out.append(
        {
            "target": "closed 16 users: order creation ≥ 20% of baseline insert req/s",
            "measured": f"{orders} / {base} req/s = {100 * orders / base:.1f}% (order creation "
            f"alone; inside the full table cycle {in_cycle} req/s = {100 * in_cycle / base:.1f}%)",
            "verdict": "met" if orders >= 0.2 * base else "MISSED",
        }
    )
    g = report["growth"]
    p100k = g["100k"]["p50_ms"]
    out.append(
        {
            "target": "dashboard 365-day volumes p50 ≤ 100 ms at 100k lines",
            "measured": f"{p100k} ms (4 concurrent users: "
            f"{report['dashboard']['volumes_365']['calls']['volumes_365']['p50_ms']} ms)",
            "verdict": "met" if p100k <= 100 else "MISSED",
        }
    )
    # Sub-linear: latency grows more slowly than history, i.e. the elasticity
    # d log(latency) / d log(lines) stays below 1 on each tenfold step.
    lines = {label: g[label]["order_lines"] for label in g}
    elasticity = [
        math.log(g[hi]["p50_ms"] / g[lo]["p50_ms"]) / math.log(lines[hi] / lines[lo])
        for lo, hi in (("10k", "100k"), ("100k", "1M"))
    ]
    out.append(
        {
            "target": "sub-linear growth with history (10k → 100k → 1M lines)",
            "measured": f"p50 {g['10k']['p50_ms']} → {p100k} → {g['1M']['p50_ms']} ms; "
            f"elasticity {elasticity[0]:.2f} then {elasticity[1]:.2f} (1.0 = linear)",
            "verdict": "met" if max(elasticity) < 1 else "MISSED (linear in lines)",
        }
    )
    d = report["consulting"]["commit_to_dashboard"]
    ok = (
        d["p99_ms"] <= 1000
        and report["consulting"]["delivered"] == report["consulting"]["requests"]
    )
    out.append(
        {
            "target": "consulting delivery p99 ≤ 1 s",
            "measured": f"p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms "
            f"({report['consulting']['delivered']}/{report['consulting']['requests']} delivered)",
            "verdict": "met" if ok else "MISSED",
        }
    )
    return out


def rerender() -> int:
    """Rebuild report.md from report.json (e.g. after editing profile_notes.md)."""
    report = json.loads((OUT / "report.json").read_text())
    notes = OUT / "profile_notes.md"
    report["profile_notes"] = notes.read_text() if notes.exists() else ""
    report["targets"] = targets(report)
    (OUT / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (OUT / "report.md").write_text(render(report))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--render", action="store_true", help="only rebuild report.md")
    parser.add_argument("--seconds", type=float, default=20, help="per load phase")
    parser.add_argument("--rates", default="20", help="open-loop cycles/s, comma separated")
    parser.add_argument("--consulting", type=int, default=30, help="consulting requests")
    args = parser.parse_args()
    if args.render:
        return rerender()
    began = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    stack = Stack(
        dbname=f"salesync_bench_{uuid.uuid4().hex[:6]}",
        port_offset=2000,
        run_dir=WORK / "stack",
        redis_db=2,
        kafka=True,
        extra_env={"RATE_LIMITS_ENABLED": "false", "STACK_LOG_LEVEL": "WARNING"},
    )
    stack.start()
    try:
        base = stack.url()
        stores, busy, data = load_data(base, stack.dbname)
        end = seed.today_local() - timedelta(days=1)
        report: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "data": data,
            "baseline": baseline(16, args.seconds),
            "closed": [],
            "open": [],
        }
        print(json.dumps({"baseline": report["baseline"]}, ensure_ascii=False), flush=True)
        for users in (16, 64):
            run = closed_loop(stack, busy, users, args.seconds, profile=users == 16)
            print(json.dumps({"closed": users, "calls": run["calls"]}, ensure_ascii=False))
            report["closed"].append(run)
            time.sleep(3)  # let queues drain before the next phase
        report["creation"] = order_creation(stack, busy, args.seconds)
        print(json.dumps({"creation": report["creation"]["calls"]}, ensure_ascii=False))
        time.sleep(3)
        for rate in (float(r) for r in args.rates.split(",")):
            run = open_loop(stack, busy, rate, args.seconds)
            print(json.dumps({"open": rate, "calls": run["calls"]}, ensure_ascii=False))
            report["open"].append(run)
        report["dashboard"] = dashboard(stack, stores["100k"], end, args.seconds * 0.75)
        report["growth"] = growth(stack, stores, end)
        report["consulting"] = consulting(stack.dbname, stack, stores["10k"], end, args.consulting)
        print(json.dumps({"consulting": report["consulting"]}), flush=True)
        # Requests nginx sent to each service over the whole run (one access-log line each).
        report["ingress_requests"] = stack.ingress().count_requests()
    finally:
        stack.stop()
        postgres.drop_database(stack.dbname)
    report["profiles"] = {
        "order service, closed loop 16 users": report["closed"][0]
        .get("profile", {})
        .get("order", {}),
        "sale service, closed loop 16 users": report["closed"][0]
        .get("profile", {})
        .get("sale", {}),
        "dashboard service, 365-day volumes": report["dashboard"]["volumes_365"]
        .get("profile", {})
        .get("dashboard", {}),
        "order service, 365-day volumes (item-sales)": report["dashboard"]["volumes_365"]
        .get("profile", {})
        .get("order", {}),
    }
    notes = OUT / "profile_notes.md"
    report["profile_notes"] = notes.read_text() if notes.exists() else ""
    report["targets"] = targets(report)
    report["total_seconds"] = round(time.perf_counter() - began, 1)
    (OUT / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (OUT / "report.md").write_text(render(report))
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
