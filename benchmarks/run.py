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
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

from benchmarks import seed
from benchmarks.load import OUT, WORK
from benchmarks.report import attach_notes, render, rerender, targets
from benchmarks.scenarios import (
    baseline,
    closed_loop,
    consulting,
    dashboard,
    growth,
    load_data,
    open_loop,
    order_creation,
)
from devstack import postgres
from devstack.stack import Stack


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
    attach_notes(report)
    report["targets"] = targets(report)
    report["total_seconds"] = round(time.perf_counter() - began, 1)
    (OUT / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    (OUT / "report.md").write_text(render(report))
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
