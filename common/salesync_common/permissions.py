"""Who may do what: the permission matrix of pos-v2.md, enforced by every service from the token.

Every public endpoint declares the one permission it needs (``endpoint(..., permission="orders")``)
and :func:`salesync_common.api.endpoint` refuses a token whose role lacks it with 403
``code: "forbidden"`` before anything is parsed or written. The owner's token (no role) has every
permission, so the first contract's frontend works unchanged. The matrix is documented once, as a
table, in ``docs/permissions.md``.

Permissions that say ``own_`` are granted for the caller's own records only: the endpoint declares
the ``own_`` permission and its use-case narrows to ``current_identity().staff_id`` unless
``can("shifts")`` / ``can("reports")`` (the broader permission) holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from salesync_common.auth import Role, StoreIdentity, current_identity
from salesync_common.errors import Forbidden

Permission = Literal[
    # the till
    "orders",  # take, change and cancel orders; read the menu
    "payments",  # take payments
    "discount",  # add or remove discounts
    "refund",  # refund sales
    "shifts",  # every shift: open, close, cash movements, X/Z reports
    "own_shift",  # open and close one's own shift and see its X report
    "reports",  # sales reports, sales history, settlement, AI consulting
    "own_figures",  # today's own figures (what one sold today)
    # the owner's back office
    "menu",  # categories, items, prices, options
    "costs",  # unit costs (profit)
    "store",  # the store profile and password
    "staff",  # staff members and their PIN sessions
]
PERMISSIONS: tuple[Permission, ...] = get_args(Permission)

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    "owner": frozenset(PERMISSIONS),
    "manager": frozenset(
        {
            "orders",
            "payments",
            "discount",
            "refund",
            "shifts",
            "own_shift",
            "reports",
            "own_figures",
        }
    ),
    "cashier": frozenset({"orders", "payments", "own_shift", "own_figures"}),
}

FORBIDDEN_MESSAGE = "이 작업을 할 권한이 없습니다."


def allows(identity: StoreIdentity, permission: Permission | None) -> bool:
    """Does ``identity`` hold ``permission``? ``None`` (undeclared) means the owner only."""
    if identity.is_owner:
        return True
    return permission is not None and permission in ROLE_PERMISSIONS[identity.role]


def require(identity: StoreIdentity, permission: Permission | None) -> None:
    """Refuse with 403 ``forbidden`` unless ``identity`` holds ``permission``."""
    if not allows(identity, permission):
        raise Forbidden(
            FORBIDDEN_MESSAGE,
            code="forbidden",
            extra={"permission": permission, "role": identity.role},
        )


def can(permission: Permission) -> bool:
    """Does the request's identity hold ``permission``? (for ``own_`` narrowing in use-cases)"""
    return allows(current_identity(), permission)


def roles_with(permission: Permission | None) -> tuple[Role, ...]:
    return tuple(
        role
        for role, granted in ROLE_PERMISSIONS.items()
        if role == "owner" or (permission is not None and permission in granted)
    )


def check_declared(permission: str | None) -> Permission | None:
    """A permission named in an endpoint declaration must exist (typos fail at import)."""
    if permission is not None and permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}; known: {', '.join(PERMISSIONS)}")
    return permission
