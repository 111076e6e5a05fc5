"""Locust users for ``benchmarks.run`` (headless; one user class per run, picked by name).

Configuration comes from the environment (set by ``run.py``):

- ``BENCH_STORES``: JSON list of ``{"token", "items"}`` (table-cycle stores; users spread
  over them);
- ``BENCH_PATH`` / ``BENCH_NAME`` / ``BENCH_TOKEN``: the one GET a ``DashboardUser`` repeats;
- ``BENCH_OUT``: where every request's (name, start, seconds, ok) is written when Locust quits, so
  ``run.py`` computes exact percentiles over a steady-state window with the same code for all rows.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

from locust import FastHttpUser, constant, events, task

SAMPLES: list[tuple[str, float, float, bool]] = []
_USER_INDEX = itertools.count()


@events.request.add_listener
def _record(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    SAMPLES.append((name, start_time or 0.0, response_time / 1000, exception is None))


@events.quitting.add_listener
def _dump(**_: Any) -> None:
    out = os.environ.get("BENCH_OUT")
    if out:
        with open(out, "w") as handle:
            json.dump(SAMPLES, handle)


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-CSRF-Token": "bench"}


class _Tablet(FastHttpUser):
    """A cashier's tablet of one of the bench stores (no tasks of its own)."""

    abstract = True
    wait_time = constant(0)

    def on_start(self) -> None:
        index = next(_USER_INDEX)
        stores = json.loads(os.environ["BENCH_STORES"])
        store = stores[index % len(stores)]
        self.headers = _headers(store["token"])
        self.items = store["items"][:3]
        self.table = 100 + index  # seeded open tables use 1..20; the open loop uses 1000+

    def _json(self, name: str, method: str, body: object | None = None) -> Any:
        path = {"open": "/orders/", "edit": "/orders/", "unpaids": "/orders/unpaids"}.get(
            name, "/sales/"
        )
        with self.client.request(
            method, path, json=body, headers=self.headers, name=name, catch_response=True
        ) as response:
            try:
                data = response.json()
            except ValueError:
                data = None
            if (
                response.status_code >= 400
                or not isinstance(data, dict)
                or (data.get("result") == "failed")
            ):
                response.failure(f"{response.status_code} {str(data)[:120]}")
            return data


class TableCycleUser(_Tablet):
    """Open a table with 3 items, view unpaid tables, edit, pay; no pause."""

    @task
    def cycle(self) -> None:
        carts = [{"item_id": item, "quantity": 1 + i} for i, item in enumerate(self.items)]
        self._json("open", "POST", {"table_no": self.table, "carts": carts})
        self._json("unpaids", "GET")
        carts[0]["quantity"] += 1
        self._json("edit", "PUT", {"table_no": self.table, "carts": carts})
        # Item i costs 1000 × (i + 1) won (benchmarks.seed.create_store).
        total = sum(c["quantity"] * 1000 * (i + 1) for i, c in enumerate(carts))
        body = {"table_no": self.table, "payment_type": "카드", "total_price": total}
        self._json("pay", "POST", body)


class OrderCreationUser(_Tablet):
    """Order creation alone: each POST opens a new order (with 3 items) on a free table."""

    def on_start(self) -> None:
        super().on_start()
        self.tables = itertools.cycle(
            range(5000 + (self.table - 100) * 300, 5300 + (self.table - 100) * 300)
        )

    @task
    def create(self) -> None:
        carts = [{"item_id": item, "quantity": 1 + i} for i, item in enumerate(self.items)]
        self._json("open", "POST", {"table_no": next(self.tables), "carts": carts})


class DashboardUser(FastHttpUser):
    """The owner's dashboard: the same report GET again and again."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.headers = _headers(os.environ["BENCH_TOKEN"])

    @task
    def report(self) -> None:
        name = os.environ.get("BENCH_NAME", "dashboard")
        with self.client.get(
            os.environ["BENCH_PATH"], headers=self.headers, name=name, catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(str(response.status_code))


class BaselineUser(FastHttpUser):
    """Minimal Flask + gunicorn endpoint: one indexed SELECT and one INSERT."""

    wait_time = constant(0)

    @task
    def baseline(self) -> None:
        self.client.post("/baseline", name="baseline")
