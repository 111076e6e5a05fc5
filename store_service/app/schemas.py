"""Store requests and responses (they validate input and document the API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, StringConstraints, WithJsonSchema

from salesync_common.types import Model, Text

Password = Annotated[str, Text(128, 4)]


def _username(value: str) -> str:
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain spaces")
    return value


Username = Annotated[str, Text(50), AfterValidator(_username)]


def _phone(value: str) -> str:
    digits = value.replace("-", "").replace(" ", "")
    if digits.startswith("+"):
        digits = digits[1:]
    if not digits.isdigit() or not 9 <= len(digits) <= 15:
        raise ValueError("must be a phone number such as 01012345678")
    return value


Phone = Annotated[str, Text(20), AfterValidator(_phone)]


def _business_number(value: str) -> str:
    """사업자등록번호: 10 digits, dashes optional on input, stored as ``###-##-#####``."""
    digits = value.replace("-", "")
    if not digits.isdigit() or len(digits) != 10:
        raise ValueError("must be a business number such as 123-45-67890")
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


BusinessNumber = Annotated[
    str,
    Text(12),
    AfterValidator(_business_number),
    WithJsonSchema({"type": "string", "example": "123-45-67890"}),
]


class UsernameQuery(Model):
    username: Username


class SignupIn(Model):
    username: Username
    password: Password
    owner_name: Annotated[str, Text(100)]
    phone: Phone
    store_name: Annotated[str, Text(100)]
    address: Annotated[str, Text(200)]
    store_type: Annotated[str, Text(50)]


class LoginIn(Model):
    username: Annotated[str, Text(50)]
    password: Annotated[str, Text(128)]


class PasswordIn(Model):
    password: Annotated[str, Text(128)]


class StoreUpdateIn(Model):
    password: Password | None = None
    owner_name: Annotated[str, Text(100)] | None = None
    phone: Phone | None = None
    store_name: Annotated[str, Text(100)] | None = None
    address: Annotated[str, Text(200)] | None = None
    store_type: Annotated[str, Text(50)] | None = None
    business_number: BusinessNumber | None = None  # printed on receipts (v2)


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
    business_number: str | None  # v2, for receipts


# ---------------------------------------------------------------------------------------------
# Staff (v2)

StaffRole = Literal["manager", "cashier"]
Pin = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{4,6}$"),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]{4,6}$", "example": "4821"}),
]


class StaffIn(Model):
    """A new staff member; the PIN (4-6 digits, a string) must be unique in the store."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "김알바", "role": "cashier", "pin": "4821"}]}
    )

    name: Annotated[str, Text(100)]
    role: StaffRole
    pin: Pin


class StaffUpdateIn(Model):
    """Any of name, role, PIN; at least one."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "manager"}]})

    name: Annotated[str, Text(100)] | None = None
    role: StaffRole | None = None
    pin: Pin | None = None


class StaffOut(Model):
    """A staff member (never the PIN)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"staff_id": 12, "name": "김알바", "role": "cashier"}]}
    )

    staff_id: int
    name: str
    role: StaffRole


class StaffListOut(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "staff": [
                        {"staff_id": 11, "name": "박매니저", "role": "manager"},
                        {"staff_id": 12, "name": "김알바", "role": "cashier"},
                    ]
                }
            ]
        }
    )

    staff: list[StaffOut]


class StaffDeletedOut(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"result": "success", "message": "직원 삭제 성공", "staff_id": 12}]
        }
    )

    result: str
    message: str
    staff_id: int


class PinIn(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{"pin": "4821"}]})

    pin: Pin


class StaffSessionOut(Model):
    """A staff token (``Authorization: Bearer``) for 12 hours, with the staff member's role."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
                    "staff_id": 12,
                    "name": "김알바",
                    "role": "cashier",
                    "expires_at": "2026-12-01T21:00:00+00:00",
                }
            ]
        }
    )

    access_token: str
    staff_id: int
    name: str
    role: StaffRole
    expires_at: str


class InternalStaffOut(Model):
    staff_id: int
    name: str
    role: StaffRole
    deleted: bool


class InternalStaffListOut(Model):
    staff: list[InternalStaffOut]
