"""Tokens: user access tokens (issued by the store service) and service-to-service credentials.

User tokens: HS256, ``sub`` = store id as a string, ``iat``/``exp``/``iss``/``aud``/``jti`` and the
store's time zone ``tz`` (so that every service computes business days without a call). Two kinds:

- the **owner's** token (store login/signup, 30 days by default): no ``role`` claim, every right;
- a **staff** token (a PIN session, 12 hours): ``role`` (``manager``/``cashier``) and ``staff_id``,
  same secret, issuer and audience. What a role may do is :mod:`salesync_common.permissions`.

Service tokens: a different secret and audience, 5 minutes, so a leaked user token can never reach
``/internal`` endpoints and a service token can never act as a user.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal, get_args

import jwt
from flask import g, request

from salesync_common.context import store_id_var
from salesync_common.errors import Unauthorized
from salesync_common.settings import ServiceSettings

ALGORITHM = "HS256"
SERVICE_AUDIENCE = "salesync-internal"
SERVICE_ISSUER = "salesync-services"
SERVICE_TOKEN_TTL = 300
SERVICE_TOKEN_HEADER = "X-Service-Token"  # noqa: S105 - a header name, not a secret
DEFAULT_TZ = "Asia/Seoul"
STAFF_TOKEN_TTL_SECONDS = 12 * 3600  # one working day: a PIN session never outlives the shift

Role = Literal["owner", "manager", "cashier"]
StaffRole = Literal["manager", "cashier"]
STAFF_ROLES: tuple[StaffRole, ...] = get_args(StaffRole)


@dataclass(frozen=True)
class StoreIdentity:
    """Who is acting: the store, and whether its owner or one of its staff (``staff_id``).

    ``staff_id`` is None for the owner; use-cases record it on what they write.
    """

    store_id: int
    tz: str = DEFAULT_TZ
    role: Role = "owner"
    staff_id: int | None = None

    @property
    def is_owner(self) -> bool:
        return self.staff_id is None


def _user_claims(settings: ServiceSettings, store_id: int, tz: str, ttl: int) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": str(store_id),
        "iat": now,
        "exp": now + ttl,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "jti": uuid.uuid4().hex,
        "tz": tz,
    }


def issue_access_token(settings: ServiceSettings, store_id: int, tz: str = DEFAULT_TZ) -> str:
    """The owner's token: no role, every right."""
    claims = _user_claims(settings, store_id, tz, settings.jwt_ttl_seconds)
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def issue_staff_token(
    settings: ServiceSettings, store_id: int, tz: str, *, staff_id: int, role: StaffRole
) -> tuple[str, int]:
    """A staff member's token (``role``, ``staff_id``) and its expiry (epoch seconds)."""
    if role not in STAFF_ROLES:
        raise ValueError(f"not a staff role: {role!r}")
    claims = _user_claims(settings, store_id, tz, STAFF_TOKEN_TTL_SECONDS)
    claims.update(role=role, staff_id=staff_id)
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM), int(claims["exp"])


def new_csrf_token() -> str:
    # The frontend echoes it as X-CSRF-Token; it is accepted and never required (no cookies exist).
    return secrets.token_urlsafe(32)


class _VerifiedTokens:
    """Tokens whose signature and claims were verified, until their ``exp``.

    Every call through the gateway verifies the same token in two or three processes; profiling
    showed the HMAC check and claim parsing at ~7% of a cheap request. Only successful
    verifications are kept (keyed by the exact token and secret), expiry is re-checked on every
    hit, and the cache is bounded.
    """

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], tuple[float, object]] = {}

    def get(self, key: tuple[str, str, str]) -> object | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.time():
            return None
        return entry[1]

    def put(self, key: tuple[str, str, str], expires: float, value: object) -> None:
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                now = time.time()
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
            self._entries[key] = (expires, value)


_verified = _VerifiedTokens()


def decode_access_token(settings: ServiceSettings, token: str) -> StoreIdentity:
    key = ("user", settings.jwt_secret, token)
    cached = _verified.get(key)
    if isinstance(cached, StoreIdentity):
        return cached
    identity, expires = _decode_access_token(settings, token)
    _verified.put(key, expires, identity)
    return identity


def _decode_access_token(settings: ServiceSettings, token: str) -> tuple[StoreIdentity, float]:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("토큰이 만료되었습니다.", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("유효하지 않은 토큰입니다.", code="invalid_token") from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.isdigit() or len(sub) > 10:
        raise Unauthorized("유효하지 않은 토큰입니다.", code="invalid_token")
    tz_claim = claims.get("tz")
    tz = tz_claim if isinstance(tz_claim, str) else DEFAULT_TZ
    role, staff_id = claims.get("role"), claims.get("staff_id")
    if role is None and staff_id is None:
        return StoreIdentity(store_id=int(sub), tz=tz), float(claims["exp"])
    # a staff token: both claims, a known staff role, a positive integer id; anything else is forged
    if (
        role not in STAFF_ROLES
        or not isinstance(staff_id, int)
        or isinstance(staff_id, bool)
        or not 0 < staff_id <= 2**63 - 1
    ):
        raise Unauthorized("유효하지 않은 토큰입니다.", code="invalid_token")
    identity = StoreIdentity(store_id=int(sub), tz=tz, role=role, staff_id=staff_id)
    return identity, float(claims["exp"])


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("인증 토큰이 필요합니다.", code="missing_token")
    return token.strip()


def bearer_expires_at() -> float:
    """The ``exp`` (epoch seconds) of this request's bearer token; call it once it is verified."""
    claims = jwt.decode(bearer_token(), options={"verify_signature": False})
    return float(claims["exp"])


def authenticate_store(settings: ServiceSettings) -> StoreIdentity:
    identity = decode_access_token(settings, bearer_token())
    g.identity = identity
    store_id_var.set(identity.store_id)
    return identity


def current_identity() -> StoreIdentity:
    identity = g.get("identity")
    if identity is None:  # a view declared without auth asked for the store: a programming error
        raise RuntimeError("no authenticated store in this request")
    return identity


def current_store_id() -> int:
    return current_identity().store_id


class ServiceTokenIssuer:
    """Mints and caches the short-lived credential this service presents to its siblings."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def token(self) -> str:
        with self._lock:
            now = time.time()
            if self._token is None or now > self._expires - 60:
                self._token = jwt.encode(
                    {
                        "sub": self._settings.service_name,
                        "iat": int(now),
                        "exp": int(now) + SERVICE_TOKEN_TTL,
                        "iss": SERVICE_ISSUER,
                        "aud": SERVICE_AUDIENCE,
                    },
                    self._settings.service_token_secret,
                    algorithm=ALGORITHM,
                )
                self._expires = now + SERVICE_TOKEN_TTL
            return self._token


def authenticate_service(settings: ServiceSettings) -> str:
    token = request.headers.get(SERVICE_TOKEN_HEADER, "")
    if not token:
        raise Unauthorized("서비스 인증이 필요합니다.", code="missing_service_token")
    key = ("service", settings.service_token_secret, token)
    caller = _verified.get(key)
    if isinstance(caller, str):
        g.calling_service = caller
        return caller
    try:
        claims = jwt.decode(
            token,
            settings.service_token_secret,
            algorithms=[ALGORITHM],
            audience=SERVICE_AUDIENCE,
            issuer=SERVICE_ISSUER,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(
            "유효하지 않은 서비스 토큰입니다.", code="invalid_service_token"
        ) from exc
    caller = str(claims["sub"])
    _verified.put(key, float(claims["exp"]), caller)
    g.calling_service = caller
    return caller
