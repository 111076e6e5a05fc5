"""The consumer of ``orders.events``: repairs a payment interrupted between order and sale.

Consumer group ``sale-order-events`` (Kafka) or the in-process bus (embedded). A ``payment``
event writes the ``payments`` row and a ``paid`` event completes the sale through the one place
that does it (``services.complete_sale``: the sale row, its pricing figures, its receipt
number), with the same idempotent inserts as the request path: when the request wrote them
first, nothing changes; when it died after the order recorded the payment, this writes them.
The order's pricing figures come from the event (paid events carry them), else from the
order's detail (``pricing_of``, one internal call: events written before they did), else the
total is taken as VAT-included taxable. An event whose rows the request path already wrote (the
usual case) costs one indexed read and nothing else.
Each event is handled in its own transaction, committed before its offset.
Other event types are not the sale service's business.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from salesync_common.bus import Event, in_process_bus
from salesync_common.kafka import KafkaRecord, KafkaSubscriber, kafka_client_config
from salesync_common.timeutil import parse_instant

from ..config import Settings
from . import services
from .models import COMPLETED, Payment, Sale

log = logging.getLogger(__name__)


def _moment(value: Any) -> datetime:
    moment = parse_instant(value)
    if moment is None:
        raise ValueError(f"not an ISO 8601 instant: {value!r}")
    return moment


PricingLookup = Callable[[int, int], dict[str, Any] | None]


def apply_event(
    session: Session, value: dict[str, Any], pricing_of: PricingLookup | None = None
) -> str | None:
    """Write what one order event implies for the sale service; returns what it did."""
    kind, data = value.get("type"), value.get("data")
    if kind not in ("payment", "paid") or not isinstance(data, dict):
        return None
    store_id, order_id = int(value["store_id"]), int(value["order_id"])
    if _already_recorded(session, kind, store_id, order_id, str(data["payment_ref"])):
        return None
    if kind == "payment":
        payment_type = str(data.get("payment_type") or "other")
        services.record_payment(
            session,
            payment_ref=str(data["payment_ref"]),
            store_id=store_id,
            order_id=order_id,
            table_no=int(data["table_no"]),
            amount=int(data["amount"]),
            payment_type=payment_type,
            payment_label=payment_type,  # the label the client sent is lost with the request
            staff_id=value.get("staff_id"),
            created_at=_moment(value["created_at"]),
        )
        return "payment"
    paid_at = _moment(data["paid_at"])
    paid_day = date.fromisoformat(str(data["paid_business_date"]))
    if data.get("legacy_sale_id") is not None:  # paid under the previous protocol
        services.complete_legacy_sale(
            session, int(data["legacy_sale_id"]), str(data["payment_ref"]), paid_at, paid_day
        )
        return "legacy"
    figures = data.get("pricing")
    if figures is None and pricing_of is not None:
        figures = pricing_of(store_id, order_id)
    services.complete_sale(
        session,
        payment_ref=str(data["payment_ref"]),
        store_id=store_id,
        order_id=order_id,
        table_no=int(data["table_no"]),
        total=int(data["total"]),
        pricing_figures=figures,
        paid_at=paid_at,
        paid_business_date=paid_day,
    )
    return "sale"


def _already_recorded(
    session: Session, kind: str, store_id: int, order_id: int, payment_ref: str
) -> bool:
    """Did the request path write what this event implies? (It does, unless it died.)

    One indexed read instead of the idempotent writes: a row that exists is never changed by
    the event (the request's row is the complete one), so skipping it changes nothing.
    """
    if kind == "payment":
        found = select(1).where(Payment.payment_ref == payment_ref)
    else:
        found = select(1).where(
            Sale.store_id == store_id, Sale.order_id == order_id, Sale.status == COMPLETED
        )
    return session.scalar(found.limit(1)) is not None


def order_pricing(orders: services.OrderGateway) -> PricingLookup:
    """The paid order's figures from its detail (the fields of the payment answer's pricing)."""

    def lookup(store_id: int, order_id: int) -> dict[str, Any] | None:
        detail = orders.order(store_id, order_id)
        return detail if detail and detail.get("status") == "paid" else None

    return lookup


class OrderEventHandler:
    def __init__(self, engine: Engine, pricing_of: PricingLookup | None = None) -> None:
        self._engine = engine
        self._pricing_of = pricing_of

    def __call__(self, record: KafkaRecord | Event) -> None:
        with Session(self._engine) as session:
            try:
                apply_event(session, record.value, self._pricing_of)
            except (KeyError, TypeError, ValueError):
                session.rollback()
                log.warning("skipping a malformed orders.events record")  # no body: no data
                return
            session.commit()


def run_consumer(
    settings: Settings,
    engine: Engine,
    stop: threading.Event,
    pricing_of: PricingLookup | None = None,
) -> None:
    """Run until ``stop`` is set (a background thread started with the app)."""
    handler = OrderEventHandler(engine, pricing_of)
    kafka = kafka_client_config(settings)
    if kafka is not None:
        KafkaSubscriber(
            kafka,
            settings.orders_events_group,
            [settings.orders_events_topic],
            handler,
            client_id=f"{settings.service_name}-order-events",
            # a repair: a second's delay is fine, a fetch and an offset commit per record is not
            batch_wait_ms=1000,
        ).run_forever(stop)
    else:
        in_process_bus().subscribe(settings.orders_events_topic, handler)
