"""Refunds of sales: partial (by amount or by lines) or of what is left, never above what was paid.

Every figure comes from ``salesync_common.pricing`` (``refund_amount``, ``refund_lines``,
``refund_remaining``): a refund carries its own taxable, exempt and VAT so that after any
sequence of refunds the sale's remaining VAT is the VAT of its remaining taxable amount.

Concurrency: the sale row is locked (``SELECT ... FOR UPDATE``) before the earlier refunds are
read, so two refunds of one sale are computed one after the other and never exceed the sale.

Tenders: a refund goes back to the tenders that paid the sale. With ``payment_type`` it goes to
that tender only (at most what the tender paid less what was already given back to it: 409
``refund_exceeds_tender``). Without it, a single-tender sale refunds to its tender, and a mixed
sale refunds to its tenders in reverse order of payment (the tender paid last is given back
first, each up to what it has left), so cash handed in last goes back first. ``refund_tenders``
records the split; the daily totals by payment type subtract it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from salesync_common import pricing
from salesync_common.errors import ApiError, Conflict, NotFound
from salesync_common.timeutil import iso, utcnow

from . import shifts
from .clients import OrderGateway
from .models import COMPLETED, MIXED, Payment, Refund, RefundTender, Sale

VOID_REASON = "전체 취소"


def sale_not_found() -> ApiError:
    return NotFound("존재하지 않는 결제 내역", code="sale_not_found")


@dataclass(frozen=True)
class RefundRequest:
    reason: str
    amount: int | None = None
    lines: dict[int, int] | None = None  # line_id -> quantity
    payment_type: str | None = None


def _paid(sale: Sale) -> pricing.TaxBreakdown:
    return pricing.TaxBreakdown(
        taxable_total=sale.taxable_total, exempt_total=sale.exempt_total, vat=sale.vat
    )


def _previous(session: Session, sale_id: int) -> list[pricing.Refund]:
    rows = session.scalars(select(Refund).where(Refund.sale_id == sale_id).order_by(Refund.id))
    return [
        pricing.Refund(
            taxable_total=row.taxable_total,
            exempt_total=row.exempt_total,
            vat=row.vat,
            lines=tuple(
                pricing.RefundedLine(
                    ref=int(line["line_id"]),
                    quantity=int(line["quantity"]),
                    amount=int(line["amount"]),
                )
                for line in json.loads(row.lines or "[]")
            ),
        )
        for row in rows
    ]


def _priced_order(sale: Sale, detail: dict[str, Any]) -> pricing.PricedOrder:
    """The paid order as pricing needs it for a refund by lines: the detail's lines, the sale's
    tax figures (final at payment)."""
    lines = tuple(
        pricing.PricedLine(
            ref=int(line["line_id"]),
            unit_price=int(line["unit_price"]),
            quantity=int(line["quantity"]),
            tax=line.get("tax", "vat"),
            amount=int(line["amount"]),
            line_discounts=(int(line.get("line_discount", 0)),),
            order_discount=int(line.get("order_discount", 0)),
        )
        for line in detail.get("lines") or ()
    )
    return pricing.PricedOrder(
        lines=lines,
        order_discounts=(),
        subtotal=sale.subtotal,
        discount_total=sale.discount_total,
        taxable_total=sale.taxable_total,
        exempt_total=sale.exempt_total,
        vat=sale.vat,
    )


def _tender_split(
    session: Session, sale: Sale, amount: int, payment_type: str | None
) -> dict[str, int]:
    """How ``amount`` goes back to the sale's tenders (module docstring)."""
    paid = session.execute(
        select(Payment.payment_type, func.sum(Payment.amount), func.max(Payment.created_at))
        .where(Payment.store_id == sale.store_id, Payment.order_id == sale.order_id)
        .group_by(Payment.payment_type)
    ).all()
    given_back = dict(
        session.execute(
            select(RefundTender.payment_type, func.sum(RefundTender.amount))
            .join(Refund, Refund.id == RefundTender.refund_id)
            .where(Refund.sale_id == sale.id)
            .group_by(RefundTender.payment_type)
        ).all()
    )
    left = {kind: int(total) - int(given_back.get(kind, 0)) for kind, total, _ in paid}
    if payment_type is not None:
        if left.get(payment_type, 0) < amount:
            raise Conflict(
                "이 결제 수단으로 환불할 수 있는 금액을 초과합니다.",
                code="refund_exceeds_tender",
                extra={"refundable": left.get(payment_type, 0)},
            )
        return {payment_type: amount}
    split: dict[str, int] = {}
    rest = amount
    for kind, _, _ in sorted(paid, key=lambda row: row[2], reverse=True):
        share = min(rest, left[kind])
        if share > 0:
            split[kind] = share
            rest -= share
    if rest:  # payments recorded by the consumer only may lack a row: the sale's own tender
        fallback = sale.payment_type if sale.payment_type != MIXED else "other"
        split[fallback] = split.get(fallback, 0) + rest
    return split


def refund_sale(
    session: Session,
    orders: OrderGateway,
    *,
    store_id: int,
    sale_id: int,
    request: RefundRequest,
    staff_id: int | None,
    tz: str,
) -> dict[str, Any]:
    """Refund part or the rest of a completed sale of the store (one transaction).

    Nothing is written when pricing refuses (409 ``refund_exceeds_paid``, 422 for an unknown
    line) or the tender cannot take it.
    """
    try:
        found = session.execute(
            select(Sale.id, Sale.order_id).where(
                Sale.id == sale_id, Sale.store_id == store_id, Sale.status == COMPLETED
            )
        ).first()
        session.commit()
        if found is None:
            raise sale_not_found()
        detail = None
        if request.lines is not None:  # read before any lock: no transaction held over a call
            detail = orders.order(store_id, int(found.order_id))
            if detail is None:
                raise sale_not_found()
        sale = session.scalars(select(Sale).where(Sale.id == sale_id).with_for_update()).one()
        previous = _previous(session, sale.id)
        if request.lines is not None:
            assert detail is not None
            refund = pricing.refund_lines(_priced_order(sale, detail), previous, request.lines)
        elif request.amount is not None:
            refund = pricing.refund_amount(_paid(sale), previous, request.amount)
        else:
            refund = pricing.refund_remaining(_paid(sale), previous)
        if refund.total == 0:
            raise pricing.RefundTooLarge("환불할 금액이 없습니다.", field="lines")
        tenders = _tender_split(session, sale, refund.total, request.payment_type)
        now = utcnow()
        row = Refund(
            store_id=store_id,
            sale_id=sale.id,
            order_id=sale.order_id,
            business_date=sale.business_date,
            amount=refund.total,
            taxable_total=refund.taxable_total,
            exempt_total=refund.exempt_total,
            vat=refund.vat,
            payment_type=next(iter(tenders)) if len(tenders) == 1 else MIXED,
            lines=(
                json.dumps(
                    [
                        {"line_id": line.ref, "quantity": line.quantity, "amount": line.amount}
                        for line in refund.lines
                    ]
                )
                if refund.lines
                else None
            ),
            reason=request.reason,
            staff_id=staff_id,
            # counts in the shift during which it is made (FOR SHARE: see shifts.py)
            shift_id=shifts.open_shift_id(session, store_id),
            created_at=now,
        )
        session.add(row)
        session.flush()
        session.add_all(
            RefundTender(refund_id=row.id, payment_type=kind, amount=amount)
            for kind, amount in tenders.items()
        )
        sale.refunded_total += refund.total
        if sale.refunded_total == sale.total_price:
            sale.refunded_at = now
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return refund_view(row, tenders, tz) | {
        "refunded_total": sale.refunded_total,
        "refundable": sale.total_price - sale.refunded_total,
    }


def void_sale(session: Session, orders: OrderGateway, store_id: int, sale_id: int, tz: str) -> None:
    """The first contract's ``DELETE /sales/<id>``: refund what is left; once only (409)."""
    try:
        refund_sale(
            session,
            orders,
            store_id=store_id,
            sale_id=sale_id,
            request=RefundRequest(reason=VOID_REASON),
            staff_id=None,
            tz=tz,
        )
    except pricing.RefundTooLarge:
        # nothing left to refund; a sale of 0 won is voided once, without a refund row
        voided = _void_free_sale(session, store_id, sale_id)
        if not voided:
            raise Conflict("이미 취소된 결제입니다.", code="already_refunded") from None


def _void_free_sale(session: Session, store_id: int, sale_id: int) -> bool:
    sale = session.scalars(
        select(Sale)
        .where(Sale.id == sale_id, Sale.store_id == store_id, Sale.total_price == 0)
        .with_for_update()
    ).first()
    done = sale is not None and sale.refunded_at is None
    if sale is not None and done:
        sale.refunded_at = utcnow()
    session.commit()
    return done


def refund_view(row: Refund, tenders: dict[str, int], tz: str) -> dict[str, Any]:
    return {
        "refund_id": row.id,
        "sale_id": row.sale_id,
        "order_id": row.order_id,
        "amount": row.amount,
        "taxable_total": row.taxable_total,
        "vat": row.vat,
        "supply_value": row.taxable_total - row.vat,
        "exempt_total": row.exempt_total,
        "payment_type": row.payment_type,
        "tenders": [{"payment_type": kind, "amount": amount} for kind, amount in tenders.items()],
        "lines": json.loads(row.lines) if row.lines else None,
        "reason": row.reason,
        "staff_id": row.staff_id,
        "created_at": iso(row.created_at, tz),
    }


def refunds_of_order(
    session: Session, store_id: int, order_id: int, tz: str
) -> list[dict[str, Any]]:
    """The order's refunds, oldest first (for its audit trail and its receipt)."""
    rows = list(
        session.scalars(
            select(Refund)
            .where(Refund.store_id == store_id, Refund.order_id == order_id)
            .order_by(Refund.id)
        )
    )
    tenders: dict[int, dict[str, int]] = {}
    if rows:
        for tender in session.scalars(
            select(RefundTender).where(RefundTender.refund_id.in_([row.id for row in rows]))
        ):
            tenders.setdefault(tender.refund_id, {})[tender.payment_type] = tender.amount
    session.commit()
    return [refund_view(row, tenders.get(row.id, {}), tz) for row in rows]
