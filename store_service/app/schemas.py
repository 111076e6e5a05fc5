"""Store requests and responses (they validate input and document the API)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator

from salesync_common.types import Model, text

Password = text(128, 4)


def _username(value: str) -> str:
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain spaces")
    return value


Username = Annotated[text(50), AfterValidator(_username)]


def _phone(value: str) -> str:
    digits = value.replace("-", "").replace(" ", "")
    if digits.startswith("+"):
        digits = digits[1:]
    if not digits.isdigit() or not 9 <= len(digits) <= 15:
        raise ValueError("must be a phone number such as 01012345678")
    return value


Phone = Annotated[text(20), AfterValidator(_phone)]


class UsernameQuery(Model):
    username: Username


class SignupIn(Model):
    username: Username
    password: Password
    owner_name: text(100)  # type: ignore[valid-type]
    phone: Phone
    store_name: text(100)  # type: ignore[valid-type]
    address: text(200)  # type: ignore[valid-type]
    store_type: text(50)  # type: ignore[valid-type]


class LoginIn(Model):
    username: text(50)  # type: ignore[valid-type]
    password: text(128)  # type: ignore[valid-type]


class PasswordIn(Model):
    password: text(128)  # type: ignore[valid-type]


class StoreUpdateIn(Model):
    password: Password | None = None
    owner_name: text(100) | None = None  # type: ignore[valid-type]
    phone: Phone | None = None
    store_name: text(100) | None = None  # type: ignore[valid-type]
    address: text(200) | None = None  # type: ignore[valid-type]
    store_type: text(50) | None = None  # type: ignore[valid-type]


class ResultOut(Model):
    result: str
    message: str


class TokenOut(Model):
    access_token: str
    csrf_token: str


class SignupOut(Model):
    result: str
    message: str
    store_id: int
    token: TokenOut


class LoginOut(Model):
    result: str
    store_id: int
    access_token: str
    csrf_token: str


class LoginFailedOut(Model):
    """Wrong credentials: `error` is the contract's string; a malformed body gets an object."""

    result: str
    error: str | dict[str, Any]


class StoreProfile(Model):
    store_id: int
    username: str
    owner_name: str
    phone: str
    store_name: str
    address: str
    store_type: str


class StoreOut(Model):
    store: StoreProfile


class StoreUpdatedOut(Model):
    result: str
    message: str
    store_id: int


class InternalStoreOut(StoreProfile):
    time_zone: str
