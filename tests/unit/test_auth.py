"""Token verification: the verified-token cache never outlives a token or crosses secrets."""

from __future__ import annotations

import time

import jwt
import pytest
from flask import Flask

from salesync_common.auth import decode_access_token, issue_access_token
from salesync_common.errors import Unauthorized
from salesync_common.settings import ServiceSettings

SECRET = "unit-test-secret-" + "s" * 32


def settings(secret: str = SECRET) -> ServiceSettings:
    return ServiceSettings(jwt_secret=secret, service_token_secret="svc-" + "t" * 40)


def test_cached_token_still_expires():
    now = int(time.time())
    claims = {
        "sub": "7",
        "iat": now,
        "exp": now + 1,
        "iss": "salesync-store",
        "aud": "salesync-pos",
    }
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    assert decode_access_token(settings(), token).store_id == 7  # verified and cached
    while time.time() <= claims["exp"]:
        time.sleep(0.05)
    with pytest.raises(Unauthorized):
        decode_access_token(settings(), token)


def test_cache_is_per_secret():
    token = issue_access_token(settings(), 9)
    assert decode_access_token(settings(), token).store_id == 9
    with pytest.raises(Unauthorized):
        decode_access_token(settings("another-secret-" + "o" * 32), token)


def test_service_token_cached_per_secret():
    from salesync_common.auth import ServiceTokenIssuer, authenticate_service

    issuer = ServiceTokenIssuer(settings())
    app = Flask(__name__)
    other = ServiceSettings(jwt_secret=SECRET, service_token_secret="other-" + "u" * 40)
    with app.test_request_context(headers={"X-Service-Token": issuer.token()}):
        assert authenticate_service(settings()) == "salesync"
        with pytest.raises(Unauthorized):
            authenticate_service(other)


def staff_claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "7",
        "iat": now,
        "exp": now + 60,
        "iss": "salesync-store",
        "aud": "salesync-pos",
        "role": "cashier",
        "staff_id": 3,
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def test_owner_and_staff_identities():
    from salesync_common.auth import issue_staff_token

    owner = decode_access_token(settings(), issue_access_token(settings(), 7, "Asia/Tokyo"))
    assert (owner.role, owner.staff_id, owner.is_owner, owner.tz) == (
        "owner",
        None,
        True,
        "Asia/Tokyo",
    )
    token, expires = issue_staff_token(settings(), 7, "Asia/Seoul", staff_id=42, role="manager")
    staff = decode_access_token(settings(), token)
    assert (staff.store_id, staff.role, staff.staff_id, staff.is_owner) == (7, "manager", 42, False)
    assert expires - time.time() == pytest.approx(12 * 3600, abs=5)
    with pytest.raises(ValueError):
        issue_staff_token(settings(), 7, "Asia/Seoul", staff_id=1, role="owner")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "owner"},  # the owner's token carries no role at all
        {"role": "admin"},
        {"staff_id": None},  # a role without a staff id
        {"role": None},  # a staff id without a role
        {"staff_id": "3"},
        {"staff_id": 0},
        {"staff_id": True},
    ],
)
def test_forged_staff_claims_are_refused(changes):
    token = jwt.encode(staff_claims(**changes), SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized) as error:
        decode_access_token(settings(), token)
    assert error.value.code == "invalid_token"


def test_staff_tokens_expire_after_12_hours(monkeypatch):
    from salesync_common import auth

    issued_at = time.time() - 12 * 3600 - 1  # issued 12 hours and a second ago
    monkeypatch.setattr(auth.time, "time", lambda: issued_at)
    token, _ = auth.issue_staff_token(settings(), 7, "Asia/Seoul", staff_id=5, role="cashier")
    monkeypatch.undo()
    with pytest.raises(Unauthorized) as error:
        decode_access_token(settings(), token)
    assert error.value.code == "token_expired"
    # and one issued 11 hours 59 minutes ago still works
    issued_at = time.time() - 12 * 3600 + 60
    monkeypatch.setattr(auth.time, "time", lambda: issued_at)
    token, _ = auth.issue_staff_token(settings(), 7, "Asia/Seoul", staff_id=5, role="cashier")
    monkeypatch.undo()
    assert decode_access_token(settings(), token).staff_id == 5
