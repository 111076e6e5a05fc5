"""Staff of the store (v2): the owner manages them; staff open 12-hour sessions with their PIN."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.app import runtime
from salesync_common.auth import StaffRole, issue_staff_token
from salesync_common.errors import ApiError

from ...config import Settings
from .. import services
from ..models import db
from ..schemas import (
    PinIn,
    StaffDeletedOut,
    StaffIn,
    StaffListOut,
    StaffOut,
    StaffSessionOut,
    StaffUpdateIn,
)
from .stores import current_store

bp = Blueprint("staff", __name__, url_prefix="/stores/staff")
TAGS = ("staff",)


def _settings() -> Settings:
    return cast(Settings, runtime().settings)


@bp.get("")
@endpoint("The store's staff", permission="staff", responses={200: StaffListOut}, tags=TAGS)
def list_staff() -> dict[str, Any]:
    store = current_store()
    return {
        "staff": [staff.public() for staff in services.list_staff(db.session(), store.store_id)]
    }


@bp.post("")
@endpoint(
    "Add a staff member (manager or cashier) with a PIN unique in the store",
    permission="staff",
    body=StaffIn,
    responses={201: StaffOut},
    extra_errors=(409,),
    tags=TAGS,
    description="The PIN (4-6 digits, as a string) is stored argon2-hashed and never returned. "
    "A PIN already used by a live staff member of the store answers 409 `pin_taken`.",
)
def create_staff(body: StaffIn) -> tuple[dict[str, Any], int]:
    store = current_store()
    staff = services.create_staff(db.session(), _settings(), store.store_id, body)
    return staff.public(), 201


@bp.put("/<id:staff_id>")
@endpoint(
    "Change a staff member's name, role or PIN",
    permission="staff",
    body=StaffUpdateIn,
    responses={200: StaffOut},
    extra_errors=(409,),
    tags=TAGS,
    description="A changed role applies to sessions opened afterwards. 409 `pin_taken` as on "
    "creation; an empty body is 422 `nothing_to_update`.",
)
def update_staff(staff_id: int, body: StaffUpdateIn) -> dict[str, Any]:
    store = current_store()
    if not body.model_dump(exclude_none=True):
        raise ApiError("수정할 항목이 없습니다.", status=422, code="nothing_to_update")
    staff = services.update_staff(db.session(), _settings(), store.store_id, staff_id, body)
    return staff.public()


@bp.delete("/<id:staff_id>")
@endpoint(
    "Delete a staff member (no new session; the PIN becomes free)",
    permission="staff",
    responses={200: StaffDeletedOut},
    tags=TAGS,
)
def delete_staff(staff_id: int) -> dict[str, Any]:
    store = current_store()
    services.delete_staff(db.session(), store.store_id, staff_id)
    return {"result": "success", "message": "직원 삭제 성공", "staff_id": staff_id}


@bp.post("/session")
@endpoint(
    "Open a staff session with a PIN (on the store's own token)",
    permission="staff",
    body=PinIn,
    responses={200: StaffSessionOut},
    extra_errors=(429,),
    tags=TAGS,
    description="Answers a staff token for 12 hours (`Authorization: Bearer`) carrying the "
    "member's `role` and `staff_id`. A wrong PIN is 401 `invalid_pin` with `attempts_left`; "
    "after 5 wrong PINs in a row every PIN attempt of the store is 429 `pin_locked` (with "
    "`retry_after` seconds) for 15 minutes, whatever the PIN. This lockout is kept in the "
    "database and is not switched off with the rate limits.",
)
def open_session(body: PinIn) -> dict[str, Any]:
    store = current_store()
    staff = services.open_staff_session(db.session(), _settings(), store.store_id, body.pin)
    token, expires = issue_staff_token(
        _settings(),
        store.store_id,
        store.time_zone,
        staff_id=staff.staff_id,
        role=cast(StaffRole, staff.role),
    )
    return {
        "access_token": token,
        "staff_id": staff.staff_id,
        "name": staff.name,
        "role": staff.role,
        "expires_at": datetime.fromtimestamp(expires, UTC).isoformat(),
    }
