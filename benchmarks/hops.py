"""How many requests serve the table cycle's 5 public calls, counted from the logs of ``make up``.

Runs ``--cycles`` table cycles (``POST /orders/``, ``GET /orders/unpaids``,
``GET /orders/unpaids/<t>``, ``PUT /orders/``, ``POST /sales/``) through the ingress of a running
``make up`` stack, then counts the lines each log gained: nginx's access log per upstream (what
the ingress forwarded) and every service's JSON request log (what each gunicorn served, internal
calls included)::

    make up && .venv/bin/python -m benchmarks.hops --cycles 20 && make down
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import requests

from devstack.stack import SERVICES, Stack


def _service_requests(log: Path) -> Counter[str]:
    """Requests a service logged, by route (its access log lines: one JSON object each)."""
    routes: Counter[str] = Counter()
    if not log.exists():
        return routes
    for line in log.read_text(errors="replace").splitlines():
        if '"message": "request"' not in line:
            continue
        try:
            routes[json.loads(line)["route"]] += 1
        except (ValueError, KeyError):
            continue
    return routes


def _snapshot(stack: Stack) -> tuple[dict[str, int], dict[str, Counter[str]]]:
    ingress = stack.ingress().count_requests()
    services = {s.name: _service_requests(stack.run_dir / f"{s.name}.log") for s in SERVICES}
    return ingress, services


def open_store(base: str) -> tuple[requests.Session, list[int]]:
    """A new store with a 3-item menu; the session carries its token."""
    session = requests.Session()
    session.trust_env = False
    owner = {
        "username": f"hops-{uuid.uuid4().hex[:8]}",
        "password": "hops-password",
        "owner_name": "홉",
        "phone": "01000000000",
        "store_name": "홉 가게",
        "address": "서울",
        "store_type": "일반음식점",
    }
    token = session.post(f"{base}/stores/", json=owner, timeout=10).json()["token"]
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    category = session.post(f"{base}/categories/", json={"name": "메뉴"}, timeout=10).json()["id"]
    items = [
        session.post(
            f"{base}/categories/{category}/items",
            json={"name": f"메뉴 {n}", "price": 1000 * n},
            timeout=10,
        ).json()["id"]
        for n in (1, 2, 3)
    ]
    return session, items


def table_cycles(base: str, session: requests.Session, items: list[int], cycles: int) -> None:
    for cycle in range(cycles):
        table = 1 + cycle % 8
        carts = [{"item_id": item, "quantity": 1} for item in items]
        assert session.post(f"{base}/orders/", json={"table_no": table, "carts": carts}).ok
        assert session.get(f"{base}/orders/unpaids", timeout=10).ok
        total = session.get(f"{base}/orders/unpaids/{table}", timeout=10).json()["total_price"]
        carts[0]["quantity"] = 2
        assert session.put(f"{base}/orders/", json={"table_no": table, "carts": carts}).ok
        total += 1000
        paid = session.post(
            f"{base}/sales/",
            json={"table_no": table, "payment_type": "카드", "total_price": total},
            timeout=10,
        )
        assert paid.status_code == 201, paid.text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args(argv)
    stack = Stack()
    session, items = open_store(stack.url())
    setup_ingress, setup_services = _snapshot(stack)  # after the store and menu calls
    table_cycles(stack.url(), session, items, args.cycles)
    time.sleep(1)  # nginx writes a request's log line after its answer has left
    after_ingress, after_services = _snapshot(stack)
    ingress = {k: v - setup_ingress.get(k, 0) for k, v in after_ingress.items()}
    served = {
        name: after_services[name] - setup_services[name] for name in after_services
    }  # Counter subtraction keeps positive counts
    total = sum(sum(c.values()) for c in served.values())
    print(f"{args.cycles} table cycles = {5 * args.cycles} public calls")
    print("nginx forwarded:", {k: v for k, v in ingress.items() if v})
    for name, routes in served.items():
        if routes:
            print(f"  {name:<11} {sum(routes.values()):>5}  {dict(routes)}")
    print(f"gunicorn requests per cycle: {total / args.cycles:.1f} (for 5 public calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
