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
