"""The benchmark scenarios (see ``run.py``): each drives the stack and returns its figures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg2
import requests

from benchmarks import seed
from benchmarks.load import WARMUP_S, Recorder, run_locust, stats
from benchmarks.profiling import parse_profile, start_profile
from devstack import postgres
from devstack.stack import REPO, Stack
from devstack.testing import free_port

BUSY_STORES, BUSY_ORDERS, OPEN_TABLES = 10, 400, 8
GROWTH = (("10k", 10_000), ("100k", 100_000), ("1M", 1_000_000))

# --------------------------------------------------------------------------- baseline


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
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "4", "-k", "gthread"),
            *("-b", f"127.0.0.1:{port}", "benchmarks.baseline_app:app"),
        ],
        cwd=REPO,
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
    analyzed = time.perf_counter()
    # Before any load: the dashboard must answer exactly what was seeded (raises otherwise).
    get = seed.http_get(base)
    for label, _ in GROWTH:
        seed.verify(get, created[label], end - timedelta(days=364), end)
    today = seed.today_local()
    for store in busy:
        seed.verify(get, store, today, today)
    verify_seconds = time.perf_counter() - analyzed
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
        "vacuum_analyze_seconds": round(analyzed - analyze_began, 1),
        "verified": f"/bff/sales, /bff/volumes, /bff/summary of {len(labels)} stores"
        " = the seeded figures",
        "verify_seconds": round(verify_seconds, 1),
        "total_seconds": round(time.perf_counter() - began, 1),
    }
    return created, busy, info
