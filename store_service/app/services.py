"""Store use-cases: plain functions over a session, testable without HTTP."""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesync_common.db import upsert_insert, violates_unique
from salesync_common.errors import ApiError, Conflict, NotFound, Unauthorized
from salesync_common.timeutil import aware, utcnow

from ..config import Settings
from .models import LIVE_PIN_INDEX, PinGuard, Staff, Store
from .schemas import SignupIn, StaffIn, StaffUpdateIn, StoreUpdateIn

# OWASP's argon2id baseline (19 MiB, 2 passes): slow for attackers, ~15 ms here.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when the username is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("salesync-timing-equaliser")

USERNAME_TAKEN = "이미 존재하는 아이디입니다."


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def username_taken(session: Session, username: str) -> bool:
    return session.scalar(select(Store.store_id).where(Store.username == username)) is not None


def create_store(session: Session, data: SignupIn) -> Store:
    store = Store(
        username=data.username,
        password_hash=hash_password(data.password),
        owner_name=data.owner_name,
        phone=data.phone,
        store_name=data.store_name,
        address=data.address,
        store_type=data.store_type,
    )
    session.add(store)
    try:
        session.commit()  # the unique constraint decides concurrent signups, not a pre-check
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(USERNAME_TAKEN, code="username_taken") from exc
    return store


def authenticate(session: Session, username: str, password: str) -> Store | None:
    store = session.scalar(select(Store).where(Store.username == username))
    if store is None:
        password_matches(_DUMMY_HASH, password)
        return None
    if not password_matches(store.password_hash, password):
        return None
    if _hasher.check_needs_rehash(store.password_hash):
        store.password_hash = hash_password(password)
        session.commit()
    return store


def get_store(session: Session, store_id: int) -> Store:
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound("존재하지 않는 매장입니다.", code="store_not_found")
    return store


def update_store(session: Session, store: Store, data: StoreUpdateIn) -> Store:
    changes = data.model_dump(exclude_none=True)
    password = changes.pop("password", None)
    if password is not None:
        store.password_hash = hash_password(password)
    for field, value in changes.items():
        setattr(store, field, value)
    session.commit()
    return store


# ---------------------------------------------------------------------------------------------
# Staff and PIN sessions

PIN_TAKEN = "이 매장에서 이미 사용 중인 PIN입니다."


def pin_tag(secret: str, store_id: int, pin: str) -> str:
    """The lookup tag of a PIN: HMAC-SHA256 keyed with ``PIN_TAG_SECRET`` over store and PIN.

    Why a tag beside the argon2 hash: argon2 hashes are salted, so neither "is this PIN already
    used in the store?" nor "whose PIN is this?" can be asked of the database; answering them by
    verifying every staff hash of the store costs ~15 ms per staff member and is racy (two
    concurrent creations both find no match). The tag is deterministic, so a unique index on
    (store, tag) among live staff decides concurrent creations in the database (one 201, one
    409) and a session finds its staff member with one indexed lookup, then verifies that one
    argon2 hash. Why keyed: a PIN has at most a million values, so an unkeyed hash in a leaked
    table would be reversed instantly; without the secret (never stored in the database) the
    tags reveal nothing, and the argon2 hash still costs an attacker who has both. The store id
    in the message keeps equal PINs of different stores unrelated. Rotating the secret makes
    every PIN unknown (they must be set again).
    """
    message = f"{store_id}:{pin}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _tag_secret(settings: Settings) -> str:
    assert settings.pin_tag_secret is not None  # filled in by the settings validator
    return settings.pin_tag_secret


def list_staff(session: Session, store_id: int) -> list[Staff]:
    """The store's live staff, in creation order."""
    query = select(Staff).where(Staff.store_id == store_id, Staff.deleted_at.is_(None))
    return list(session.scalars(query.order_by(Staff.staff_id)))


def all_staff(session: Session, store_id: int) -> list[Staff]:
    """Every staff member the store ever had (names of past orders' staff), deleted included."""
    query = select(Staff).where(Staff.store_id == store_id).order_by(Staff.staff_id)
    return list(session.scalars(query))


def _live_staff(session: Session, store_id: int, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id, with_for_update=True, populate_existing=True)
    if staff is None or staff.store_id != store_id or staff.deleted_at is not None:
        raise NotFound("존재하지 않는 직원입니다.", code="staff_not_found")
    return staff


def _commit_staff(session: Session) -> None:
    try:
        session.commit()  # the live-PIN unique index decides concurrent writes, not a pre-check
    except IntegrityError as exc:
        session.rollback()
        if violates_unique(exc, LIVE_PIN_INDEX, "staff.store_id, staff.pin_tag"):
            raise Conflict(PIN_TAKEN, code="pin_taken") from exc
        raise


def create_staff(session: Session, settings: Settings, store_id: int, data: StaffIn) -> Staff:
    staff = Staff(
        store_id=store_id,
        name=data.name,
        role=data.role,
        pin_hash=hash_password(data.pin),
        pin_tag=pin_tag(_tag_secret(settings), store_id, data.pin),
    )
    session.add(staff)
    _commit_staff(session)
    return staff


def update_staff(
    session: Session, settings: Settings, store_id: int, staff_id: int, data: StaffUpdateIn
) -> Staff:
    staff = _live_staff(session, store_id, staff_id)
    if data.name is not None:
        staff.name = data.name
    if data.role is not None:
        staff.role = data.role
    if data.pin is not None:
        staff.pin_hash = hash_password(data.pin)
        staff.pin_tag = pin_tag(_tag_secret(settings), store_id, data.pin)
    _commit_staff(session)
    return staff


def delete_staff(session: Session, store_id: int, staff_id: int) -> None:
    """Retire a staff member: no new session, its PIN free again; the row stays for history."""
    staff = _live_staff(session, store_id, staff_id)
    staff.deleted_at = utcnow()
    session.commit()


class PinLocked(ApiError):
    status = 429
    code = "pin_locked"


def _locked_guard(session: Session, store_id: int) -> PinGuard:
    """The store's PIN guard row, created if missing, locked until the transaction ends."""
    session.execute(
        upsert_insert(session)(PinGuard)
        .values(store_id=store_id, failed_attempts=0)
        .on_conflict_do_nothing(index_elements=["store_id"])
    )
    query = select(PinGuard).where(PinGuard.store_id == store_id).with_for_update()
    guard = session.scalar(query.execution_options(populate_existing=True))
    assert guard is not None
    return guard


def open_staff_session(session: Session, settings: Settings, store_id: int, pin: str) -> Staff:
    """The live staff member whose PIN this is, or a refusal that counts toward the lockout.

    Every attempt of a store holds the store's guard row locked while it checks the PIN, so
    concurrent attempts are judged one after another: after ``pin_max_attempts`` wrong PINs in a
    row (a right one resets the count) every attempt, right or wrong, answers 429 ``pin_locked``
    until ``pin_lockout_seconds`` have passed. Unknown and wrong PINs cost the same argon2 check.
    """
    guard = _locked_guard(session, store_id)
    now = utcnow()
    locked_until = None if guard.locked_until is None else aware(guard.locked_until)
    if locked_until is not None and locked_until > now:
        session.rollback()
        retry_after = math.ceil((locked_until - now).total_seconds())
        raise PinLocked(
            "PIN을 여러 번 잘못 입력했습니다. 잠시 후 다시 시도하세요.",
            extra={"retry_after": retry_after},
        )
    staff = session.scalar(
        select(Staff).where(
            Staff.store_id == store_id,
            Staff.pin_tag == pin_tag(_tag_secret(settings), store_id, pin),
            Staff.deleted_at.is_(None),
        )
    )
    if staff is None or not password_matches(staff.pin_hash, pin):
        if staff is None:
            password_matches(_DUMMY_HASH, pin)
        guard.failed_attempts += 1
        attempts_left = settings.pin_max_attempts - guard.failed_attempts
        if attempts_left <= 0:
            guard.failed_attempts = 0
            guard.locked_until = now + timedelta(seconds=settings.pin_lockout_seconds)
        session.commit()
        raise Unauthorized(
            "PIN이 올바르지 않습니다.",
            code="invalid_pin",
            extra={"attempts_left": max(attempts_left, 0)},
        )
    guard.failed_attempts = 0
    guard.locked_until = None
    if _hasher.check_needs_rehash(staff.pin_hash):
        staff.pin_hash = hash_password(pin)
    session.commit()
    return staff
