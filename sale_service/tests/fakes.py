"""An in-memory order gateway with the order service's internal semantics (docs/internal-api.md).

Used by the unit tests (the integration tests run the real order and item services).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sale_service.app.services import PayAnswer
from salesync_common.errors import UpstreamError
from salesync_common.timeutil import business_date, utcnow

_order_ids = itertools.count(1001)  # order ids are global in the order service


def unavailable() -> UpstreamError:
    return UpstreamError(
        "order 서비스를 사용할 수 없습니다.",
        status=503,
        code="dependency_unavailable",
        extra={"dependency": "order"},
    )


@dataclass
class FakeOrder:
    order_id: int
    store_id: int
    table_no: int
    total_price: int
    status: str = "open"
    paid_sale_id: int | None = None
    paid_at: datetime | None = None
    paid_business_date: str | None = None


@dataclass
class FakeOrders:
    orders: dict[int, FakeOrder] = field(default_factory=dict)
    down: bool = False  # every call raises 503
    pay_down: bool = False  # pay raises 503 *after* applying (a lost answer)
    pay_delay: float = 0.0
    clock: datetime | None = None  # the moment a pay is recorded at (default: now)
    pay_calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open_table(self, store_id: int, table_no: int, total_price: int) -> FakeOrder:
        with self._lock:
            order = FakeOrder(next(_order_ids), store_id, table_no, total_price)
            self.orders[order.order_id] = order
            return order

    def open_order(self, store_id: int, table_no: int) -> dict[str, Any] | None:
        if self.down:
            raise unavailable()
        for order in self.orders.values():
            if order.store_id == store_id and order.table_no == table_no and order.status == "open":
                return {
                    "order_id": order.order_id,
                    "version": 1,
                    "table_no": table_no,
                    "total_price": order.total_price,
                    "lines": [],
                }
        return None

    def pay(
        self, store_id: int, order_id: int, sale_id: int, total_price: int, tz: str
    ) -> PayAnswer:
        if self.down:
            raise unavailable()
        time.sleep(self.pay_delay)
        with self._lock:  # the order service locks the order row
            self.pay_calls += 1
            order = self.orders.get(order_id)
            if order is None or order.store_id != store_id:
                return PayAnswer(404, {"result": "failed", "error": {"code": "not_found"}})
            if order.status == "paid" and order.paid_sale_id == sale_id:
                return PayAnswer(200, self._paid(order))
            if order.status != "open":
                return PayAnswer(409, {"result": "failed", "error": {"code": "not_payable"}})
            if order.total_price != total_price:
                return PayAnswer(
                    409,
                    {
                        "result": "failed",
                        "error": {"code": "total_changed"},
                        "total_price": order.total_price,
                    },
                )
            order.status, order.paid_sale_id = "paid", sale_id
            order.paid_at = self.clock or utcnow()
            order.paid_business_date = business_date(order.paid_at, tz).isoformat()
            answer = PayAnswer(200, self._paid(order))
        if self.pay_down:
            raise unavailable()
        return answer

    def order(self, store_id: int, order_id: int) -> dict[str, Any] | None:
        if self.down:
            raise unavailable()
        order = self.orders.get(order_id)
        if order is None or order.store_id != store_id:
            return None
        return {
            "order_id": order.order_id,
            "status": order.status,
            "paid_sale_id": order.paid_sale_id,
            "total_price": order.total_price,
            "paid_business_date": order.paid_business_date,
        }

    @staticmethod
    def _paid(order: FakeOrder) -> dict[str, Any]:
        assert order.paid_at is not None
        return {
            "order_id": order.order_id,
            "status": "paid",
            "paid_sale_id": order.paid_sale_id,
            "paid_at": order.paid_at.isoformat(),
            "paid_business_date": order.paid_business_date,
            "total_price": order.total_price,
        }
