"""The permission helper: the matrix of pos-v2.md, the declaration rules and their OpenAPI form."""

from __future__ import annotations

import pytest
from flask import Blueprint

from salesync_common import permissions
from salesync_common.api import endpoint
from salesync_common.app import create_service_app
from salesync_common.auth import StoreIdentity, issue_access_token, issue_staff_token
from salesync_common.errors import Forbidden
from salesync_common.openapi import build_openapi
from salesync_common.settings import ServiceSettings

OWNER = StoreIdentity(store_id=1)
MANAGER = StoreIdentity(store_id=1, role="manager", staff_id=2)
CASHIER = StoreIdentity(store_id=1, role="cashier", staff_id=3)


def test_the_matrix_of_pos_v2():
    granted = {
        role: {p for p in permissions.PERMISSIONS if permissions.allows(identity, p)}
        for role, identity in (("owner", OWNER), ("manager", MANAGER), ("cashier", CASHIER))
    }
    assert granted["owner"] == set(permissions.PERMISSIONS)
    assert granted["manager"] == {
        "orders",
        "payments",
        "discount",
        "refund",
        "shifts",
        "own_shift",
        "reports",
        "own_figures",
    }
    assert granted["cashier"] == {"orders", "payments", "own_shift", "own_figures"}
    # the owner's back office belongs to no staff role
    for owner_only in ("menu", "costs", "store", "staff"):
        assert permissions.roles_with(owner_only) == ("owner",)


def test_undeclared_means_owner_only():
    assert permissions.allows(OWNER, None)
    assert not permissions.allows(MANAGER, None) and not permissions.allows(CASHIER, None)


def test_require_raises_forbidden():
    permissions.require(MANAGER, "refund")
    with pytest.raises(Forbidden) as error:
        permissions.require(CASHIER, "refund")
    assert error.value.status == 403 and error.value.code == "forbidden"
    assert error.value.extra == {"permission": "refund", "role": "cashier"}


def test_declarations_are_checked_at_import():
    with pytest.raises(ValueError, match="unknown permission"):
        endpoint("typo", permission="refunds")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="store-authenticated"):
        endpoint("public", auth=None, permission="orders")


SECRETS = {"jwt_secret": "p" * 40, "service_token_secret": "q" * 40}


def make_app():
    bp = Blueprint("things", __name__)
    calls: list[str] = []

    @bp.post("/things")
    @endpoint("Refund a thing", permission="refund")
    def refund() -> dict:
        calls.append("refund")
        return {"ok": True}

    @bp.get("/things")
    @endpoint("Owner's thing")
    def owners() -> dict:
        calls.append("owners")
        return {"ok": True}

    settings = ServiceSettings(salesync_env="test", log_level="WARNING", **SECRETS)
    app = create_service_app("things", settings, title="t", blueprints=[bp])
    return app, settings, calls


def test_endpoint_enforces_before_the_view_runs():
    app, settings, calls = make_app()
    client = app.test_client()
    owner = {"Authorization": f"Bearer {issue_access_token(settings, 1)}"}

    def staff(role: str) -> dict[str, str]:
        token, _ = issue_staff_token(settings, 1, "Asia/Seoul", staff_id=9, role=role)  # type: ignore[arg-type]
        return {"Authorization": f"Bearer {token}"}

    refused = client.post("/things", headers=staff("cashier"))
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert client.get("/things", headers=staff("manager")).status_code == 403
    assert calls == []
    assert client.post("/things", headers=staff("manager")).status_code == 200
    assert client.post("/things", headers=owner).status_code == 200
    assert client.get("/things", headers=owner).status_code == 200
    assert calls == ["refund", "refund", "owners"]


def test_openapi_documents_the_permission():
    app, _, _ = make_app()
    with app.app_context():
        document = build_openapi(app, title="t")
    refund = document["paths"]["/things"]["post"]
    assert refund["x-permission"] == "refund"
    assert refund["x-roles"] == ["owner", "manager"]
    assert "`refund`" in refund["description"] and "403" in refund["responses"]
    owners = document["paths"]["/things"]["get"]
    assert owners["x-permission"] is None and owners["x-roles"] == ["owner"]
    health = document["paths"]["/healthz"]["get"]
    assert "x-permission" not in health and "403" not in health["responses"]
