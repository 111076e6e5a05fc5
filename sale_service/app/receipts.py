"""The JSON receipt of a paid order (pos-v2.md), and reprints.

A receipt is issued (numbered) when its order is paid (``sales.complete_sale``). Reading it
is printing it: the first read is the original print (``reprint_count`` 0) and every later read,
by number or by order, is a reprint that adds 1 (the answer carries the count including that
read). The count is changed by one atomic ``UPDATE`` and only after the store and the order were
read, so a failed read counts nothing.

Money (``subtotal`` ... ``total``) comes from the sale, i.e. the order's pricing figures at
payment; lines, options and discounts from the order's detail; refunds from ``refunds``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from salesync_common.errors import ApiError, NotFound
from salesync_common.timeutil import iso, utcnow

from . import refunds
from .clients import OrderGateway, StoreGateway
from .models import COMPLETED, Payment, Sale
from .payments import card_view


def receipt_not_found() -> ApiError:
    return NotFound("영수증이 없습니다.", code="receipt_not_found")


def _sale_by_number(session: Session, store_id: int, receipt_no: str) -> Sale | None:
    return session.scalars(
        select(Sale).where(
            Sale.store_id == store_id, Sale.receipt_no == receipt_no, Sale.status == COMPLETED
        )
    ).first()


def _sale_by_order(session: Session, store_id: int, order_id: int) -> Sale | None:
    return session.scalars(
        select(Sale).where(
            Sale.store_id == store_id,
            Sale.order_id == order_id,
            Sale.status == COMPLETED,
            Sale.receipt_no.is_not(None),
        )
    ).first()


def receipt_by_number(
    session: Session,
    orders: OrderGateway,
    stores: StoreGateway,
    store_id: int,
    receipt_no: str,
    tz: str,
) -> dict[str, Any]:
    sale = _sale_by_number(session, store_id, receipt_no)
    session.commit()
    if sale is None:
        raise receipt_not_found()
    return _print(session, orders, stores, sale, tz)


def receipt_by_order(
    session: Session,
    orders: OrderGateway,
    stores: StoreGateway,
    store_id: int,
    order_id: int,
    tz: str,
) -> dict[str, Any]:
    sale = _sale_by_order(session, store_id, order_id)
    session.commit()
    if sale is None:
        raise receipt_not_found()
    return _print(session, orders, stores, sale, tz)


def _line_view(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "line_id": line.get("line_id"),
        "item_id": line.get("item_id"),
        "item_name": line.get("item_name"),
        "tax": line.get("tax", "vat"),
        "options": [
            {"name": option.get("name"), "price_delta": option.get("price_delta")}
            for option in line.get("options") or ()
        ],
        "unit_price": line.get("unit_price"),
        "quantity": line.get("quantity"),
        "amount": line.get("amount"),
        "discount": line.get("discount", 0),
        "net": line.get("net", line.get("amount")),
    }


def _discount_view(discount: dict[str, Any]) -> dict[str, Any]:
    keys = ("discount_id", "scope", "line_id", "item_id", "kind", "value", "amount", "reason")
    return {key: discount.get(key) for key in keys}


def _print(
    session: Session, orders: OrderGateway, stores: StoreGateway, sale: Sale, tz: str
) -> dict[str, Any]:
    store = stores.store(sale.store_id)
    detail = orders.order(sale.store_id, sale.order_id) or {}
    payments = list(
        session.scalars(
            select(Payment)
            .where(Payment.store_id == sale.store_id, Payment.order_id == sale.order_id)
            .order_by(Payment.created_at, Payment.payment_ref)
        )
    )
    reprints = session.scalar(
        update(Sale)
        .where(Sale.id == sale.id)
        .values(
            reprint_count=Sale.reprint_count + case((Sale.printed_at.is_(None), 0), else_=1),
            printed_at=func.coalesce(Sale.printed_at, utcnow()),
        )
        .returning(Sale.reprint_count)
    )
    session.commit()
    refund_rows = refunds.refunds_of_order(session, sale.store_id, sale.order_id, tz)
    total = sale.taxable_total + sale.exempt_total
    return {
        "receipt_no": sale.receipt_no,
        "sale_id": sale.id,
        "order_id": sale.order_id,
        "table_no": sale.table_no,
        "business_date": sale.business_date.isoformat(),
        "paid_at": iso(sale.paid_at or sale.created_at, tz),
        "store": {
            "store_name": store.get("store_name"),
            "address": store.get("address"),
            "business_number": store.get("business_number"),
            "phone": store.get("phone"),
            "owner_name": store.get("owner_name"),
        },
        "lines": [_line_view(line) for line in detail.get("lines") or ()],
        "discounts": [_discount_view(discount) for discount in detail.get("discounts") or ()],
        "subtotal": sale.subtotal,
        "discount_total": sale.discount_total,
        "taxable_total": sale.taxable_total,
        "vat": sale.vat,
        "supply_value": sale.taxable_total - sale.vat,
        "exempt_total": sale.exempt_total,
        "total": total,
        "payments": [
            {
                "payment_id": payment.payment_ref,
                "payment_type": payment.payment_type,
                "amount": payment.amount,
                "tendered": payment.tendered,
                "change": payment.change,
                "card": card_view(payment),
                "staff_id": payment.staff_id,
                "paid_at": iso(payment.created_at, tz),
            }
            for payment in payments
        ],
        "change": sum(payment.change for payment in payments),
        "refunds": refund_rows,
        "refunded_total": sum(row["amount"] for row in refund_rows),
        "net_total": total - sum(row["amount"] for row in refund_rows),
        "reprint_count": int(reprints or 0),
    }
