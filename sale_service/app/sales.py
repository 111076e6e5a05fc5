"""Sales: a paid order becomes a sale (its figures, its receipt number), listing, daily totals.

Refunds are in ``refunds.py``, receipts as printed in ``receipts.py``, payments in ``payments.py``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, case, distinct, func, select, text, update
from sqlalchemy.orm import Session

from salesync_common import pricing
from salesync_common.db import WriteBatch, prepared, rows_matched, upsert_insert
from salesync_common.timeutil import iso, utcnow

from .models import COMPLETED, MIXED, PENDING, Payment, ReceiptCounter, Refund, RefundTender, Sale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordOutcome:
    sale_id: int | None
    receipt_no: str | None


def _figures(pricing_figures: Any, total: int) -> dict[str, int]:
    """The order's pricing figures from the payment answer; without them, all of it VAT-included.

    Orders paid before the order service answered ``pricing`` had no exempt item and no
    discount, so their whole total is taxable. Figures that contradict the total are not
    trusted (logged, without any order data).
    """
    keys = ("subtotal", "discount_total", "taxable_total", "exempt_total", "vat")
    if isinstance(pricing_figures, dict) and all(
        isinstance(pricing_figures.get(key), int) for key in keys
    ):
        figures = {key: int(pricing_figures[key]) for key in keys}
        if (
            figures["taxable_total"] + figures["exempt_total"] == total
            and figures["vat"] == pricing.vat_of(figures["taxable_total"])
            and figures["subtotal"] - figures["discount_total"] == total
        ):
            return figures
        log.warning("payment answer pricing does not add up to its total; using the total")
    return {
        "subtotal": total,
        "discount_total": 0,
        "taxable_total": total,
        "exempt_total": 0,
        "vat": pricing.vat_of(total),
    }


def _tender_of_order(session: Session, store_id: int, order_id: int) -> tuple[str, str]:
    """The sale's ``payment_type``/``payment_label``: the one tender, else ``mixed``."""
    rows = session.execute(
        select(Payment.payment_type, Payment.payment_label)
        .where(Payment.store_id == store_id, Payment.order_id == order_id, Payment.amount > 0)
        .distinct()
    ).all()
    if not rows:  # a zero total: its single payment of 0
        rows = session.execute(
            select(Payment.payment_type, Payment.payment_label)
            .where(Payment.store_id == store_id, Payment.order_id == order_id)
            .distinct()
        ).all()
    types = {row.payment_type for row in rows}
    if len(types) > 1:
        return MIXED, MIXED
    if not types:
        return "other", "other"
    labels = {row.payment_label for row in rows}
    kind = types.pop()
    return kind, labels.pop() if len(labels) == 1 else kind


def format_receipt_no(business_day: date, number: int) -> str:
    """The receipt number of a day's ``number``-th sale: ``YYYYMMDD-NNNN`` (more digits past
    9999). ``_RECEIPT_NO_SQL`` writes the same in SQL (a test compares them)."""
    return f"{business_day:%Y%m%d}-{number:04d}"


def number_sale(session: Session, sale_id: int, store_id: int, business_day: date) -> str:
    """Give the sale the next receipt number of the store's business day; returns it.

    One upsert on the day's counter row, which stays locked until the caller's transaction
    ends: numbers are issued in commit order, a rolled-back completion gives its number back
    (no gap) and two completions never read the same number (no duplicate). On PostgreSQL the
    counter and the sale are written by one statement.
    """
    if session.get_bind().dialect.name == "postgresql":
        number = session.scalar(
            _NUMBER_SALE,
            {
                "store_id": store_id,
                "business_date": business_day,
                "sale_id": sale_id,
                "day": f"{business_day:%Y%m%d}",
            },
        )
        assert number is not None  # the caller's transaction holds the sale row
        return str(number)
    last_no = session.scalar(
        _next_receipt_no(upsert_insert(session)),
        {"store_id": store_id, "business_date": business_day, "last_no": 1},
    )
    number = format_receipt_no(business_day, int(last_no))
    session.execute(_SET_RECEIPT_NO, {"sale_id": sale_id, "receipt_no": number})
    return number


# PostgreSQL: ``format_receipt_no`` in SQL, of the day's counter just taken (``counter``).
_RECEIPT_NO_SQL = """CAST(:day AS text) || '-'
        || lpad(CAST(counter.last_no AS text), greatest(4, length(CAST(counter.last_no AS text))),
                '0')"""
# PostgreSQL: the day's counter taken and the sale numbered in one statement.
_NUMBER_SALE = prepared(
    text(
        f"""
    WITH counter AS (
        INSERT INTO receipt_counters AS counter (store_id, business_date, last_no)
        VALUES (:store_id, :business_date, 1)
        ON CONFLICT (store_id, business_date) DO UPDATE SET last_no = counter.last_no + 1
        RETURNING last_no
    )
    UPDATE sales SET receipt_no = {_RECEIPT_NO_SQL}
    FROM counter
    WHERE sales.id = :sale_id
    RETURNING sales.receipt_no
    """  # noqa: S608 (a constant fragment, no input)
    )
)
# PostgreSQL: the same for the sale the previous statement of the same transaction inserted (its
# ref, and the ``created_at`` that insert wrote: a sale inserted by another writer has its own,
# and a number already); no row when that insert did nothing.
_NUMBER_NEW_SALE = prepared(
    text(
        f"""
    WITH sale AS (
        SELECT id FROM sales
        WHERE payment_ref = :payment_ref AND created_at = :created_at AND receipt_no IS NULL
    ), counter AS (
        INSERT INTO receipt_counters AS counter (store_id, business_date, last_no)
        SELECT :store_id, :business_date, 1 FROM sale
        ON CONFLICT (store_id, business_date) DO UPDATE SET last_no = counter.last_no + 1
        RETURNING last_no
    )
    UPDATE sales SET receipt_no = {_RECEIPT_NO_SQL}
    FROM counter, sale
    WHERE sales.id = sale.id
    RETURNING sales.id, sales.receipt_no
    """  # noqa: S608 (a constant fragment, no input)
    )
)


@functools.cache
def _next_receipt_no(insert: Callable[..., Any]) -> Any:
    counter = ReceiptCounter.__table__
    return (
        insert(counter)
        .on_conflict_do_update(
            index_elements=[counter.c.store_id, counter.c.business_date],
            set_={"last_no": counter.c.last_no + 1},
        )
        .returning(counter.c.last_no)
    )


@functools.cache
def _insert_sale(insert: Callable[..., Any]) -> Any:
    return insert(Sale.__table__).on_conflict_do_nothing().returning(Sale.__table__.c.id)


# built once: the receipt number of a sale just inserted
_SET_RECEIPT_NO = (
    update(Sale.__table__)
    .where(Sale.__table__.c.id == bindparam("sale_id"))
    .values(receipt_no=bindparam("receipt_no"))
)


def complete_sale(
    session: Session,
    *,
    payment_ref: str,
    store_id: int,
    order_id: int,
    table_no: int,
    total: int,
    pricing_figures: Any,
    paid_at: datetime,
    paid_business_date: date,
    sole_tender: tuple[str, str] | None = None,
    writes: WriteBatch | None = None,
) -> RecordOutcome:
    """The one place a paid order becomes a sale: the sale row, its figures, its receipt number.

    Inserted once (unique per order and per ref) in the caller's transaction, after the
    order's payments rows (its tender is computed from them, unless the caller knows the
    order was paid by one payment: ``sole_tender`` = its type and label); only the insert that
    created the sale issues a receipt number, so the request and the consumer never issue two.
    The caller's queued ``writes`` (its payment row) are sent with the sale's insert and, on
    PostgreSQL, the statement that numbers it: one round trip.
    """
    writes = writes or WriteBatch(session)
    if sole_tender is None:
        writes.send()  # the tender is read from the order's payments, the queued one included
    payment_type, payment_label = sole_tender or _tender_of_order(session, store_id, order_id)
    figures = _figures(pricing_figures, total)
    now = utcnow()
    writes.add(
        _insert_sale(upsert_insert(session)),
        {
            "store_id": store_id,
            "order_id": order_id,
            "table_no": table_no,
            "total_price": total,
            "payment_type": payment_type,
            "payment_label": payment_label,
            "status": COMPLETED,
            "business_date": paid_business_date,
            "created_at": now,
            "paid_at": paid_at,
            "completed_at": now,
            "payment_ref": payment_ref,
            **figures,
        },
    )
    if writes.batched:
        # PostgreSQL: numbered in the same message, only if this insert created the sale
        writes.add(
            _NUMBER_NEW_SALE,
            {
                "payment_ref": payment_ref,
                "created_at": now,
                "store_id": store_id,
                "business_date": paid_business_date,
                "day": f"{paid_business_date:%Y%m%d}",
            },
        )
        sent = writes.send()
        numbered = sent.first() if sent is not None else None
        if numbered is not None:
            return RecordOutcome(int(numbered.id), str(numbered.receipt_no))
    else:
        sent = writes.send()
        inserted = sent.scalar() if sent is not None else None
        if inserted is not None:
            number = number_sale(session, int(inserted), store_id, paid_business_date)
            return RecordOutcome(int(inserted), number)
    sale = session.execute(
        select(Sale.id, Sale.receipt_no).where(
            Sale.store_id == store_id, Sale.order_id == order_id, Sale.status == COMPLETED
        )
    ).first()
    if sale is not None:
        return RecordOutcome(int(sale.id), sale.receipt_no)
    # the order's live sale is one the previous protocol left pending
    pending = session.scalar(
        select(Sale.id).where(
            Sale.store_id == store_id, Sale.order_id == order_id, Sale.status == PENDING
        )
    )
    assert pending is not None  # the insert conflicted with a live sale of this order
    complete_legacy_sale(session, int(pending), payment_ref, paid_at, paid_business_date)
    return RecordOutcome(
        int(pending), session.scalar(select(Sale.receipt_no).where(Sale.id == pending))
    )


def complete_legacy_sale(
    session: Session, sale_id: int, payment_ref: str, paid_at: datetime, paid_business_date: date
) -> bool:
    """A sale the previous protocol left pending while its order was paid: complete it.

    Its order had neither options, discounts nor exempt items: the total is taxable.
    """
    now = utcnow()
    result = session.execute(
        update(Sale)
        .where(Sale.id == sale_id, Sale.status == PENDING)
        .values(
            status=COMPLETED,
            completed_at=now,
            paid_at=paid_at,
            business_date=paid_business_date,
            payment_ref=payment_ref,
            subtotal=Sale.total_price,
            taxable_total=Sale.total_price,
            vat=(2 * Sale.total_price + 11) / 22,  # pricing.vat_of, in SQL
        )
        .execution_options(synchronize_session=False)
    )
    if rows_matched(result) != 1:
        return False
    store_id = session.scalar(select(Sale.store_id).where(Sale.id == sale_id))
    assert store_id is not None
    number_sale(session, sale_id, int(store_id), paid_business_date)
    return True


# ---------------------------------------------------------------------------------------------
# Listing and totals (refunds: ``refunds.py``).


def list_sales(session: Session, store_id: int, tz: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Sale)
        .where(Sale.store_id == store_id, Sale.status == COMPLETED)
        .order_by(Sale.paid_at, Sale.id)
    ).all()
    return [
        {
            "id": sale.id,
            "total_price": sale.total_price,
            "sale_date": iso(sale.paid_at or sale.created_at, tz),
            "payment_type": sale.payment_type,
            "payment_label": sale.payment_label,
            "order_id": sale.order_id,
            "table_no": sale.table_no,
            "status": "refunded" if sale.refunded_at is not None else "completed",
            "refunded": sale.refunded_at is not None,
            "refunded_at": iso(sale.refunded_at, tz) if sale.refunded_at is not None else None,
        }
        for sale in rows
    ]


def _sum(column: Any) -> Any:
    return func.coalesce(func.sum(column), 0)


def daily_totals(session: Session, store_id: int, start: date, end: date) -> dict[str, Any]:
    """Totals over an already validated ``Period`` (ordered, at most 366 days).

    A refund counts on the business day of the sale it refunds. ``sales_volume`` is net of
    refunds and ``payments`` counts the sales not wholly refunded (the first version's
    figures); each day also carries the figures of ``pricing.Figures``. By payment type: what
    each tender paid of the period's sales less what refunds gave back to it (see
    ``refunds.py`` for how a refund of a mixed sale is shared over its tenders).
    """
    in_period = (
        Sale.store_id == store_id,
        Sale.status == COMPLETED,
        Sale.business_date >= start,
        Sale.business_date <= end,
    )
    live = Sale.refunded_at.is_(None)
    sale_rows = session.execute(
        select(
            Sale.business_date,
            _sum(Sale.total_price),
            _sum(case((live, 1), else_=0)),
            _sum(Sale.subtotal),
            _sum(Sale.discount_total),
            _sum(Sale.taxable_total),
            _sum(Sale.exempt_total),
            _sum(Sale.vat),
            func.count(),
        )
        .where(*in_period)
        .group_by(Sale.business_date)
        .order_by(Sale.business_date)
    ).all()
    refund_rows = {
        row[0]: row
        for row in session.execute(
            select(
                Refund.business_date,
                _sum(Refund.amount),
                _sum(Refund.taxable_total),
                _sum(Refund.exempt_total),
                _sum(Refund.vat),
            )
            .where(
                Refund.store_id == store_id,
                Refund.business_date >= start,
                Refund.business_date <= end,
            )
            .group_by(Refund.business_date)
        ).all()
    }
    days = []
    for day, total, live_count, gross, discount, taxable, exempt, vat, count in sale_rows:
        refunded = refund_rows.get(day, (day, 0, 0, 0, 0))
        figures = pricing.Figures(
            gross_sales=int(gross),
            discount_total=int(discount),
            taxable_total=int(taxable),
            exempt_total=int(exempt),
            vat=int(vat),
            order_count=int(count),
        ) + pricing.Figures(
            refund_total=int(refunded[1]),
            taxable_total=-int(refunded[2]),
            exempt_total=-int(refunded[3]),
            vat=-int(refunded[4]),
        )
        days.append(
            {
                "date": day.isoformat(),
                "sales_volume": int(total) - int(refunded[1]),
                "payments": int(live_count),
                "refunded": int(refunded[1]),
                **figures_view(figures),
                "refund_taxable_total": int(refunded[2]),
                "refund_exempt_total": int(refunded[3]),
                "refund_vat": int(refunded[4]),
            }
        )
    paid = session.execute(
        select(
            Payment.payment_type,
            _sum(Payment.amount),
            func.count(distinct(case((live, Sale.id)))),
        )
        .join(Sale, (Sale.order_id == Payment.order_id) & (Sale.store_id == Payment.store_id))
        .where(*in_period)
        .group_by(Payment.payment_type)
    ).all()
    given_back: dict[str, int] = dict(
        session.execute(
            select(RefundTender.payment_type, _sum(RefundTender.amount))
            .join(Refund, Refund.id == RefundTender.refund_id)
            .where(
                Refund.store_id == store_id,
                Refund.business_date >= start,
                Refund.business_date <= end,
            )
            .group_by(RefundTender.payment_type)
        ).all()
    )
    by_type = sorted(
        (
            {
                "payment_type": kind,
                "sales_volume": int(volume) - int(given_back.get(kind, 0)),
                "payments": int(count),
            }
            for kind, volume, count in paid
        ),
        key=lambda row: row["payment_type"],
    )
    return {
        "days": days,
        "by_payment_type": by_type,
        "sales_volume": sum(day["sales_volume"] for day in days),
        "payments": sum(day["payments"] for day in days),
    }


def figures_view(figures: pricing.Figures) -> dict[str, int]:
    return {
        "gross_sales": figures.gross_sales,
        "discount_total": figures.discount_total,
        "refund_total": figures.refund_total,
        "net_sales": figures.net_sales,
        "taxable_total": figures.taxable_total,
        "vat": figures.vat,
        "supply_value": figures.supply_value,
        "exempt_total": figures.exempt_total,
        "order_count": figures.order_count,
    }
