"""Store use-cases: plain functions over a session, testable without HTTP."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesync_common.errors import Conflict, NotFound

from .models import Store
from .schemas import SignupIn, StoreUpdateIn

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
