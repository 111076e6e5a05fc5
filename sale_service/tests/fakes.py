"""An in-memory order gateway with the order service's payments semantics (docs/internal-api.md).

Used by the unit tests (the integration tests run the real order and item services). It also
keeps the ``orders.events`` values the real service would publish, for the consumer tests.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sale_service.app.clients import PayAnswer
from salesync_common import pricing
from salesync_common.errors import UpstreamError
from salesync_common.timeutil import business_date, iso, utcnow

_order_ids = itertools.count(1001)  # order ids are global in the order service


def unavailable() -> UpstreamError:
    return UpstreamError(
        "order 서비스를 사용할 수 없습니다.",
        status=503,
        code="dependency_unavailable",
        extra={"dependency": "order"},
    )


def refused(status: int, code: str, **extra: Any) -> PayAnswer:
    return PayAnswer(status, {"result": "failed", "error": {"code": code}, **extra})


@dataclass
class FakeOrder:
    order_id: int
    store_id: int
    table_no: int
    total_price: int
    status: str = "open"
    paid_total: int = 0
    paid_at: datetime | None = None
    paid_business_date: str | None = None
    priced: pricing.PricedOrder | None = None  # v2 orders: lines with tax (None: first version)
    payments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeOrders:
    orders: dict[int, FakeOrder] = field(default_factory=dict)
    answers: dict[str, PayAnswer] = field(default_factory=dict)  # recorded, per payment_ref
    events: list[dict[str, Any]] = field(default_factory=list)  # what orders.events would carry
    down: bool = False  # every call raises 503
    pay_down: bool = False  # pay raises 503 *after* recording (a lost answer)
    pay_delay: float = 0.0
    clock: datetime | None = None  # the moment a payment is recorded at (default: now)
    pay_calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open_table(
        self,
        store_id: int,
        table_no: int,
        total_price: int = 0,
        lines: list[pricing.Line] | None = None,
        order_discounts: tuple[pricing.Discount, ...] = (),
    ) -> FakeOrder:
        """An open order; with ``lines`` (refs = line ids) priced by the pricing module."""
        with self._lock:
            priced = pricing.price_order(lines, order_discounts) if lines else None
            total = priced.total if priced else total_price
            order = FakeOrder(next(_order_ids), store_id, table_no, total, priced=priced)
            self.orders[order.order_id] = order
            return order

    def order(self, store_id: int, order_id: int) -> dict[str, Any] | None:
        """The detail endpoint's shape (docs/internal-api.md) for what the fake knows."""
        order = self.orders.get(order_id)
        if order is None or order.store_id != store_id:
            return None
        priced = order.priced
        lines = [
            {
                "line_id": line.ref,
                "item_id": 100 + int(line.ref),
                "item_name": f"품목 {line.ref}",
                "category_id": 1,
                "category_name": "메뉴",
                "tax": line.tax,
                "options": [{"option_id": 1, "group_id": 1, "name": "샷 추가", "price_delta": 500}],
                "unit_price": line.unit_price,
                "quantity": line.quantity,
                "amount": line.amount,
                "line_discount": sum(line.line_discounts),
                "order_discount": line.order_discount,
                "discount": line.discount,
                "net": line.net,
            }
            for line in (priced.lines if priced else ())
        ]
        figures = priced.totals() if priced else {}
        return {
            "order_id": order.order_id,
            "table_no": order.table_no,
            "status": order.status,
            "lines": lines,
            "discounts": [],
            **figures,
            "payments": order.payments,
            "paid_total": order.paid_total,
            "balance": order.total_price - order.paid_total,
        }

    def _target(self, store_id: int, request: dict[str, Any]) -> FakeOrder | None:
        for order in self.orders.values():
            if order.store_id != store_id:
                continue
            if request.get("order_id") == order.order_id or (
                request.get("table_no") == order.table_no and order.status == "open"
            ):
                return order
        return None

    def pay(self, store_id: int, request: dict[str, Any], tz: str) -> PayAnswer:
        if self.down:
            raise unavailable()
        time.sleep(self.pay_delay)
        with self._lock:  # the order service locks the order row
            self.pay_calls += 1
            ref = request["payment_ref"]
            if ref in self.answers:
                return self.answers[ref]
            order = self._target(store_id, request)
            if order is None:
                return refused(404, "no_open_order")
            if order.status != "open":
                return refused(409, "not_payable")
            expected = request.get("expected_total")
            if expected is not None and expected != order.total_price:
                return refused(409, "total_changed", total_price=order.total_price)
            balance = order.total_price - order.paid_total
            amount = balance if request.get("amount") is None else request["amount"]
            if amount > balance:
                return refused(409, "amount_exceeds_balance", balance=balance)
            order.paid_total += amount
            order.payments.append({"payment_ref": ref, "amount": amount})
            now = self.clock or utcnow()
            if order.paid_total == order.total_price:
                order.status = "paid"
                order.paid_at = now
                order.paid_business_date = business_date(now, tz).isoformat()
            answer = PayAnswer(
                200,
                {
                    "order_id": order.order_id,
                    "table_no": order.table_no,
                    "payment_ref": ref,
                    "amount": amount,
                    "total": order.total_price,
                    "paid_total": order.paid_total,
                    "balance": order.total_price - order.paid_total,
                    "status": order.status,
                    "paid_at": iso(now, tz) if order.status == "paid" else None,
                    "paid_business_date": order.paid_business_date,
                    **({"pricing": order.priced.totals()} if order.priced else {}),
                },
            )
            self.answers[ref] = answer
            self._publish(order, "payment", ref, amount, request["payment_type"], now)
            if order.status == "paid":
                self._publish(order, "paid", ref, amount, request["payment_type"], now)
        if self.pay_down:
            raise unavailable()
        return answer

    def _publish(
        self, order: FakeOrder, kind: str, ref: str, amount: int, payment_type: str, now: datetime
    ) -> None:
        data: dict[str, Any] = {"table_no": order.table_no, "payment_ref": ref}
        if kind == "payment":
            data |= {"amount": amount, "payment_type": payment_type}
        else:
            data |= {
                "total": order.total_price,
                "paid_total": order.paid_total,
                "paid_at": iso(now, "UTC"),
                "paid_business_date": order.paid_business_date,
            }
        self.events.append(
            {
                "event_id": str(uuid.uuid4()),
                "store_id": order.store_id,
                "seq": len(self.events) + 1,
                "order_id": order.order_id,
                "type": kind,
                "staff_id": None,
                "data": data,
                "created_at": now.isoformat(),
            }
        )


@dataclass
class FakeStores:
    """The store service's internal profile, as receipts read it."""

    def store(self, store_id: int) -> dict[str, Any]:
        return {
            "store_id": store_id,
            "store_name": "김밥천국 역삼점",
            "address": "서울 강남구 테헤란로 1",
            "business_number": "123-45-67890",
            "phone": "0212345678",
            "owner_name": "홍길동",
        }
