"""Cash drawer shifts: open with a float, pay-ins/pay-outs, the X report, close with a Z report.

Invariants, and where they are enforced:

- **One open shift per store**: the partial unique index ``uq_shifts_open_store``. Two terminals
  opening at once: one insert wins, the other gets 409 ``shift_open``.
- **A payment or refund belongs to at most one shift, and a closed shift's report never
  changes.** Writers (``payments.record_payment``, ``refunds.refund_sale``, cash movements) read
  the open shift with ``FOR SHARE`` in their own transaction (:func:`open_shift_id`, or
  ``OPEN_SHIFT_FOR_SHARE`` inside the payment's insert), and
  :func:`close_shift` takes the shift row ``FOR UPDATE`` before it reads any figure. So a
  payment racing a close either commits first (the close waits for it and counts it) or waits
  for the close and then finds no open shift (``shift_id`` null: it is in no shift's report).
- **Figures**: every money figure of a report comes from ``pricing.Figures`` over the sale
  service's own rows: the sales settled by a payment of the shift (their pricing figures at
  payment), the refunds made during the shift (in the shift during which a refund is made, not
  the sale's) and the shift's payments by tender.
- **Cash**: ``expected_cash = opening_float + cash_sales - cash_refunds + pay_ins - pay_outs``
  (``cash_sales`` = cash applied to orders; change handed back never entered the drawer);
  ``difference = counted_cash - expected_cash`` (negative: cash is missing).
- **Who**: a staff member with ``shifts`` (a manager; the owner) does everything. One with only
  ``own_shift`` (a cashier) may open a shift and then act on, read and close only a shift it
  opened (403 ``forbidden`` otherwise, nothing written), and its reports list only its own
  ``per_staff`` row (``own_figures``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesync_common import pricing
from salesync_common.db import prepared, reads_without_transaction
from salesync_common.errors import Conflict, Forbidden, NotFound
from salesync_common.permissions import FORBIDDEN_MESSAGE
from salesync_common.timeutil import business_date, iso, utcnow

from . import sales
from .models import (
    CLOSED,
    COMPLETED,
    OPEN,
    OPEN_SHIFT_INDEX,
    PAYMENT_TYPES,
    CashMovement,
    Payment,
    Refund,
    RefundTender,
    Sale,
    Shift,
    ShiftSettings,
)

CASH_MOVEMENT_KINDS = ("pay_in", "pay_out")


@dataclass(frozen=True)
class Actor:
    """Who calls: ``staff_id`` (None: the owner) and whether it holds ``shifts``."""

    staff_id: int | None
    all_shifts: bool


def _shift_open() -> Conflict:
    return Conflict("이미 열린 교대(시재)가 있습니다.", code="shift_open")


def no_open_shift() -> Conflict:
    return Conflict("열린 교대(시재)가 없습니다.", code="no_open_shift")


def _shift_not_found() -> NotFound:
    return NotFound("존재하지 않는 교대입니다.", code="shift_not_found")


def _not_own_shift() -> Forbidden:
    return Forbidden(
        FORBIDDEN_MESSAGE,
        code="forbidden",
        extra={"permission": "shifts", "reason": "not_own_shift"},
    )


# ---------------------------------------------------------------------------------------------
# The open shift, as every writer sees it


# Built once (a payment binds the store): the open shift, and the store's setting.
_OPEN_SHIFT = prepared(
    select(Shift.id).where(Shift.store_id == bindparam("shift_store_id"), Shift.status == OPEN)
)
_OPEN_SHIFT_SHARED = _OPEN_SHIFT.with_for_update(read=True)
_REQUIRE_OPEN_SHIFT = prepared(
    select(ShiftSettings.require_open_shift).where(ShiftSettings.store_id == bindparam("store_id"))
)
# The open shift inside a writer's INSERT (a column value, bound by ``shift_store_id``): the same
# ``FOR SHARE`` read as :func:`open_shift_id`, without a statement of its own.
OPEN_SHIFT_FOR_SHARE = _OPEN_SHIFT_SHARED.scalar_subquery()


def open_shift_id(session: Session, store_id: int, *, lock: bool = True) -> int | None:
    """The store's open shift, ``FOR SHARE`` (until the caller's transaction ends) when ``lock``.

    A close holding the row ``FOR UPDATE`` makes this wait; once the close commits the row is
    no longer open and this answers None (PostgreSQL re-checks the condition on the new row).
    """
    found = session.scalar(
        _OPEN_SHIFT_SHARED if lock else _OPEN_SHIFT, {"shift_store_id": store_id}
    )
    return int(found) if found is not None else None


def require_open_shift(session: Session, store_id: int) -> bool:
    return bool(session.scalar(_REQUIRE_OPEN_SHIFT, {"store_id": store_id}))


def check_payment_allowed(session: Session, store_id: int) -> None:
    """Before a payment reaches the order service: 409 ``no_open_shift`` when the store requires
    an open shift and has none (nothing recorded anywhere).

    A shift closed between this check and the payment's own write leaves the payment in no
    shift (``shift_id`` null): the order service has taken the money by then.
    """
    reads_without_transaction(session)
    try:
        refused = require_open_shift(session, store_id) and (
            open_shift_id(session, store_id, lock=False) is None
        )
    finally:
        session.commit()
    if refused:
        raise no_open_shift()


def settings_view(session: Session, store_id: int) -> dict[str, Any]:
    answer = {"require_open_shift": require_open_shift(session, store_id)}
    session.commit()
    return answer


def update_settings(session: Session, store_id: int, require: bool) -> dict[str, Any]:
    try:
        setting = session.get(ShiftSettings, store_id, with_for_update=True)
        if setting is None:
            session.add(ShiftSettings(store_id=store_id, require_open_shift=require))
        else:
            setting.require_open_shift = require
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return {"require_open_shift": require}


# ---------------------------------------------------------------------------------------------
# Opening, cash movements, closing


def open_shift(
    session: Session, store_id: int, tz: str, opening_float: int, actor: Actor
) -> dict[str, Any]:
    """Open the store's shift; 409 ``shift_open`` if one is open (the index decides)."""
    now = utcnow()
    shift = Shift(
        store_id=store_id,
        status=OPEN,
        business_date=business_date(now, tz),
        opening_float=opening_float,
        opened_at=now,
        opened_by=actor.staff_id,
    )
    try:
        session.add(shift)
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        if OPEN_SHIFT_INDEX in str(exc.orig) or "shifts.store_id" in str(exc.orig):
            raise _shift_open() from None
        raise
    except BaseException:
        session.rollback()
        raise
    return {
        "shift_id": shift.id,
        "status": OPEN,
        "business_date": shift.business_date.isoformat(),
        "opened_at": iso(shift.opened_at, tz),
        "opening_float": shift.opening_float,
        "opened_by": shift.opened_by,
    }


def _current(session: Session, store_id: int, actor: Actor, *, lock: bool) -> Shift:
    """The open shift the actor may act on (409 none open, 403 a cashier's foreign shift)."""
    query = select(Shift).where(Shift.store_id == store_id, Shift.status == OPEN)
    if lock:
        query = query.with_for_update()
    shift = session.scalars(query).first()
    if shift is None:
        raise no_open_shift()
    _check_own(shift, actor)
    return shift


def _check_own(shift: Shift, actor: Actor) -> None:
    if not actor.all_shifts and shift.opened_by != actor.staff_id:
        raise _not_own_shift()


def add_cash_movement(
    session: Session,
    store_id: int,
    tz: str,
    actor: Actor,
    *,
    kind: str,
    amount: int,
    reason: str,
) -> dict[str, Any]:
    """A pay-in or pay-out of the open shift (read ``FOR SHARE``: a racing close counts it or
    refuses it, never both)."""
    try:
        shift_id = open_shift_id(session, store_id)
        if shift_id is None:
            raise no_open_shift()
        shift = session.get(Shift, shift_id)
        assert shift is not None
        _check_own(shift, actor)
        movement = CashMovement(
            shift_id=shift_id,
            store_id=store_id,
            kind=kind,
            amount=amount,
            reason=reason,
            staff_id=actor.staff_id,
            created_at=utcnow(),
        )
        session.add(movement)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return _movement_view(movement, tz)


def close_shift(
    session: Session, store_id: int, tz: str, actor: Actor, counted_cash: int
) -> dict[str, Any]:
    """Close the open shift with the counted cash: the Z report (one transaction).

    The row is locked ``FOR UPDATE`` and marked closed before any figure is read, so every
    payment, refund or movement of the shift has committed by then and none can join it after.
    """
    try:
        shift = _current(session, store_id, actor, lock=True)
        shift.status = CLOSED
        shift.closed_at = utcnow()
        shift.closed_by = actor.staff_id
        session.flush()
        report = _report(session, shift, tz, actor)
        shift.expected_cash = report["expected_cash"]
        shift.counted_cash = counted_cash
        shift.difference = counted_cash - report["expected_cash"]
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return report | {
        "counted_cash": shift.counted_cash,
        "difference": shift.difference,
    }


def current_report(session: Session, store_id: int, tz: str, actor: Actor) -> dict[str, Any]:
    """The X report of the open shift (figures so far; nothing counted yet)."""
    try:
        shift = _current(session, store_id, actor, lock=False)
        return _report(session, shift, tz, actor)
    finally:
        session.commit()


def shift_report(
    session: Session, store_id: int, shift_id: int, tz: str, actor: Actor
) -> dict[str, Any]:
    """A shift by id: the Z report of a closed one (the same figures as at close), the X report
    of the open one. Another store's shift is 404."""
    try:
        shift = session.scalars(
            select(Shift).where(Shift.id == shift_id, Shift.store_id == store_id)
        ).first()
        if shift is None:
            raise _shift_not_found()
        _check_own(shift, actor)
        return _report(session, shift, tz, actor)
    finally:
        session.commit()


def shifts_of_day(session: Session, store_id: int, day: date, tz: str) -> list[dict[str, Any]]:
    """The store's shifts opened on business day ``day``, oldest first (settlement text)."""
    rows = session.scalars(
        select(Shift)
        .where(Shift.store_id == store_id, Shift.business_date == day)
        .order_by(Shift.opened_at, Shift.id)
    ).all()
    session.commit()
    return [
        {
            "shift_id": row.id,
            "status": row.status,
            "opened_at": iso(row.opened_at, tz),
            "closed_at": iso(row.closed_at, tz) if row.closed_at else None,
            "opening_float": row.opening_float,
            "expected_cash": row.expected_cash,
            "counted_cash": row.counted_cash,
            "difference": row.difference,
        }
        for row in rows
    ]


# ---------------------------------------------------------------------------------------------
# Reports


def _sum(column: Any) -> Any:
    return func.coalesce(func.sum(column), 0)


@dataclass
class _StaffTotals:
    payment_count: int = 0
    taken: dict[str, int] = field(default_factory=dict)  # per tender
    figures: pricing.Figures = field(default_factory=pricing.Figures)

    def taken_by_tender(self) -> dict[str, int]:
        return {kind: self.taken.get(kind, 0) for kind in PAYMENT_TYPES}


def _report(session: Session, shift: Shift, tz: str, actor: Actor) -> dict[str, Any]:
    """The shift's figures (module docstring). ``counted_cash``/``difference`` are the stored
    ones: null while open."""
    staff: dict[int | None, _StaffTotals] = {}

    def of(staff_id: int | None) -> _StaffTotals:
        return staff.setdefault(staff_id, _StaffTotals())

    taken = dict.fromkeys(PAYMENT_TYPES, 0)
    for kind, staff_id, amount, count in session.execute(
        select(Payment.payment_type, Payment.staff_id, _sum(Payment.amount), func.count())
        .where(Payment.shift_id == shift.id)
        .group_by(Payment.payment_type, Payment.staff_id)
    ):
        taken[kind] += int(amount)
        totals = of(staff_id)
        totals.payment_count += int(count)
        totals.taken[kind] = totals.taken.get(kind, 0) + int(amount)

    # Sales settled by a payment of this shift, credited to whoever took that payment.
    for staff_id, gross, discount, taxable, exempt, vat, count in session.execute(
        select(
            Payment.staff_id,
            _sum(Sale.subtotal),
            _sum(Sale.discount_total),
            _sum(Sale.taxable_total),
            _sum(Sale.exempt_total),
            _sum(Sale.vat),
            func.count(),
        )
        .join(Payment, Payment.payment_ref == Sale.payment_ref)
        .where(Payment.shift_id == shift.id, Sale.status == COMPLETED)
        .group_by(Payment.staff_id)
    ):
        totals = of(staff_id)
        totals.figures = totals.figures + pricing.Figures(
            gross_sales=int(gross),
            discount_total=int(discount),
            taxable_total=int(taxable),
            exempt_total=int(exempt),
            vat=int(vat),
            order_count=int(count),
        )

    # Refunds made during this shift, credited to whoever made them.
    for staff_id, amount, taxable, exempt, vat in session.execute(
        select(
            Refund.staff_id,
            _sum(Refund.amount),
            _sum(Refund.taxable_total),
            _sum(Refund.exempt_total),
            _sum(Refund.vat),
        )
        .where(Refund.shift_id == shift.id)
        .group_by(Refund.staff_id)
    ):
        totals = of(staff_id)
        totals.figures = totals.figures + pricing.Figures(
            refund_total=int(amount),
            taxable_total=-int(taxable),
            exempt_total=-int(exempt),
            vat=-int(vat),
        )
    given_back = dict.fromkeys(PAYMENT_TYPES, 0)
    for kind, amount in session.execute(
        select(RefundTender.payment_type, _sum(RefundTender.amount))
        .join(Refund, Refund.id == RefundTender.refund_id)
        .where(Refund.shift_id == shift.id)
        .group_by(RefundTender.payment_type)
    ):
        given_back[kind] += int(amount)

    movements = list(
        session.scalars(
            select(CashMovement)
            .where(CashMovement.shift_id == shift.id)
            .order_by(CashMovement.created_at, CashMovement.id)
        )
    )
    pay_ins = sum(row.amount for row in movements if row.kind == "pay_in")
    pay_outs = sum(row.amount for row in movements if row.kind == "pay_out")
    expected_cash = shift.opening_float + taken["cash"] - given_back["cash"] + pay_ins - pay_outs
    figures = pricing.total_figures(totals.figures for totals in staff.values())
    shown_staff = sorted(
        (
            (staff_id, totals)
            for staff_id, totals in staff.items()
            if actor.all_shifts or staff_id == actor.staff_id
        ),
        key=lambda pair: (pair[0] is not None, pair[0] or 0),  # the owner (null) first
    )
    return {
        "shift_id": shift.id,
        "status": shift.status,
        "business_date": shift.business_date.isoformat(),
        "opened_at": iso(shift.opened_at, tz),
        "opened_by": shift.opened_by,
        "closed_at": iso(shift.closed_at, tz) if shift.closed_at else None,
        "closed_by": shift.closed_by,
        "opening_float": shift.opening_float,
        "cash_sales": taken["cash"],
        "cash_refunds": given_back["cash"],
        "pay_ins": pay_ins,
        "pay_outs": pay_outs,
        "expected_cash": expected_cash,
        "counted_cash": shift.counted_cash,
        "difference": shift.difference,
        "card_sales": taken["card"],
        "card_refunds": given_back["card"],
        "card_total": taken["card"] - given_back["card"],
        "other_sales": taken["other"],
        "other_refunds": given_back["other"],
        "other_total": taken["other"] - given_back["other"],
        "cash_total": taken["cash"] - given_back["cash"],
        **sales.figures_view(figures),
        "average_check": figures.average_check,
        "payment_count": sum(totals.payment_count for totals in staff.values()),
        "cash_movements": [_movement_view(row, tz) for row in movements],
        "per_staff": [
            {
                "staff_id": staff_id,
                "payment_count": totals.payment_count,
                "taken": totals.taken_by_tender(),
                **sales.figures_view(totals.figures),
            }
            for staff_id, totals in shown_staff
        ],
    }


def _movement_view(row: CashMovement, tz: str) -> dict[str, Any]:
    return {
        "movement_id": row.id,
        "kind": row.kind,
        "amount": row.amount,
        "reason": row.reason,
        "staff_id": row.staff_id,
        "created_at": iso(row.created_at, tz),
    }
