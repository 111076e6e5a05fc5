"""Public shift endpoints (pos-v2.md "Staff, roles and shifts"); the rules live in ``shifts.py``.

Every endpoint but the settings declares ``own_shift``: a cashier acts on the shift it opened
only, a caller holding ``shifts`` (manager, owner) on any (``shifts.Actor``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.auth import current_identity
from salesync_common.permissions import can

from .. import shifts
from ..models import db
from ..schemas import (
    CashMovementIn,
    CashMovementOut,
    ShiftCloseIn,
    ShiftOpenedOut,
    ShiftOpenIn,
    ShiftReportOut,
    ShiftSettingsIn,
    ShiftSettingsOut,
)

bp = Blueprint("shifts", __name__, url_prefix="/sales/shifts")
TAGS = ("shifts",)
OWN = (
    " A cashier (`own_shift`) may act only on a shift it opened (403 `forbidden` otherwise, "
    "nothing written); a manager or the owner (`shifts`) on any."
)


def _actor() -> shifts.Actor:
    return shifts.Actor(staff_id=current_identity().staff_id, all_shifts=can("shifts"))


@bp.post("")
@endpoint(
    "Open the store's shift with an opening float",
    permission="own_shift",
    body=ShiftOpenIn,
    responses={201: ShiftOpenedOut},
    extra_errors=(409,),
    tags=TAGS,
    description=(
        "One open shift per store: if one is open (two terminals opening at once: the second) "
        "409 `shift_open`. `business_date` is the store's day of opening. While the shift is "
        "open every payment and refund is recorded in it."
    ),
)
def open_shift(body: ShiftOpenIn) -> tuple[dict[str, Any], int]:
    identity = current_identity()
    answer = shifts.open_shift(
        db.session, identity.store_id, identity.tz, body.opening_float, _actor()
    )
    return answer, 201


@bp.post("/current/cash-movements")
@endpoint(
    "Pay cash into or out of the open shift's drawer, with a reason",
    permission="own_shift",
    body=CashMovementIn,
    responses={201: CashMovementOut},
    extra_errors=(409,),
    tags=TAGS,
    description="No open shift: 409 `no_open_shift`." + OWN,
)
def cash_movement(body: CashMovementIn) -> tuple[dict[str, Any], int]:
    identity = current_identity()
    answer = shifts.add_cash_movement(
        db.session,
        identity.store_id,
        identity.tz,
        _actor(),
        kind=body.kind,
        amount=body.amount,
        reason=body.reason,
    )
    return answer, 201


@bp.get("/current")
@endpoint(
    "The X report of the open shift",
    permission="own_shift",
    responses={200: ShiftReportOut},
    extra_errors=(409,),
    tags=TAGS,
    description=(
        "The figures so far (`counted_cash` and `difference` null). No open shift: 409 "
        "`no_open_shift`. A cashier's `per_staff` lists only its own row." + OWN
    ),
)
def current() -> dict[str, Any]:
    identity = current_identity()
    return shifts.current_report(db.session, identity.store_id, identity.tz, _actor())


@bp.post("/current/close")
@endpoint(
    "Close the open shift with the counted cash: the Z report",
    permission="own_shift",
    body=ShiftCloseIn,
    responses={200: ShiftReportOut},
    extra_errors=(409,),
    tags=TAGS,
    description=(
        "`expected_cash` = `opening_float` + `cash_sales` - `cash_refunds` + `pay_ins` - "
        "`pay_outs`; `difference` = `counted_cash` - `expected_cash`. Sales: the orders settled "
        "by a payment of the shift; refunds: those made during the shift. A payment racing the "
        "close is in the report or in no shift, never both. No open shift: 409 "
        "`no_open_shift`. `GET /sales/shifts/<shift_id>` reads the same report back." + OWN
    ),
)
def close(body: ShiftCloseIn) -> dict[str, Any]:
    identity = current_identity()
    return shifts.close_shift(
        db.session, identity.store_id, identity.tz, _actor(), body.counted_cash
    )


@bp.get("/settings")
@endpoint(
    "The store's shift settings",
    permission="shifts",
    responses={200: ShiftSettingsOut},
    tags=TAGS,
)
def get_settings() -> dict[str, Any]:
    return shifts.settings_view(db.session, current_identity().store_id)


@bp.put("/settings")
@endpoint(
    "Change the store's shift settings",
    permission="shifts",
    body=ShiftSettingsIn,
    responses={200: ShiftSettingsOut},
    tags=TAGS,
    description=(
        "`require_open_shift` on: `POST /sales/payments` and `POST /sales/` without an open "
        "shift answer 409 `no_open_shift` and record nothing. Off (the default): payments "
        "without a shift are recorded in none."
    ),
)
def put_settings(body: ShiftSettingsIn) -> dict[str, Any]:
    return shifts.update_settings(db.session, current_identity().store_id, body.require_open_shift)


@bp.get("/<id:shift_id>")
@endpoint(
    "A shift's report: the Z report of a closed shift (as at close), the X of the open one",
    permission="own_shift",
    responses={200: ShiftReportOut},
    extra_errors=(404,),
    tags=TAGS,
    description="Another store's (or an unknown) shift id: 404 `shift_not_found`." + OWN,
)
def read(shift_id: int) -> dict[str, Any]:
    identity = current_identity()
    return shifts.shift_report(db.session, identity.store_id, shift_id, identity.tz, _actor())
