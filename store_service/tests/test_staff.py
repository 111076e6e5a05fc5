"""Staff, PIN sessions and the PIN lockout on PostgreSQL, with real parallel HTTP requests."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime

import jwt
import pytest
import requests
from sqlalchemy import select

from devstack.testing import TEST_SECRETS, auth_headers
from salesync_common.auth import STAFF_TOKEN_TTL_SECONDS, decode_access_token
from store_service.app.models import PinGuard, Staff, db
from store_service.app.services import pin_tag

LOCKOUT_SECONDS = 2
_names = itertools.count(1)


@pytest.fixture(scope="module")
def app(service_app):
    # rate limits off: the PIN lockout is a security rule that must hold without them
    return service_app(
        "store_service", rate_limits_enabled=False, pin_lockout_seconds=LOCKOUT_SECONDS
    )


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def owner(client):
    """A fresh store: its owner's headers."""
    created = client.post(
        "/stores/",
        json={
            "username": f"staff-owner-{next(_names)}-{time.monotonic_ns()}",
            "password": "secret-pw",
            "owner_name": "김사장",
            "phone": "01012345678",
            "store_name": "가게",
            "address": "서울",
            "store_type": "카페",
        },
    )
    assert created.status_code == 201, created.json
    return auth_headers(created.json["token"]["access_token"])


def add_staff(client, owner, pin="4821", role="cashier", name="김알바"):
    return client.post(
        "/stores/staff", json={"name": name, "role": role, "pin": pin}, headers=owner
    )


def session(client, owner, pin):
    return client.post("/stores/staff/session", json={"pin": pin}, headers=owner)


def staff_rows(app, store_id: int | None = None):
    with app.app_context():
        query = select(Staff).order_by(Staff.staff_id)
        if store_id is not None:
            query = query.where(Staff.store_id == store_id)
        rows = list(db.session.scalars(query))
        db.session.commit()
        return rows


def test_owner_manages_staff_and_the_pin_is_never_shown(app, client, owner):
    created = add_staff(client, owner, pin="0123", role="manager", name="박매니저")
    assert created.status_code == 201
    assert set(created.json) == {"staff_id", "name", "role"}
    assert created.json["name"] == "박매니저" and created.json["role"] == "manager"
    cashier = add_staff(client, owner, pin="987654").json
    listed = client.get("/stores/staff", headers=owner)
    assert listed.status_code == 200
    assert listed.json == {"staff": [created.json, cashier]}
    assert "0123" not in listed.get_data(as_text=True)

    row = staff_rows(app, store_id_of(owner))[0]
    assert row.pin_hash.startswith("$argon2id$") and "0123" not in row.pin_hash
    settings = app.extensions["salesync"].settings
    assert row.pin_tag == pin_tag(settings.pin_tag_secret, row.store_id, "0123")

    renamed = client.put(
        f"/stores/staff/{cashier['staff_id']}",
        json={"name": "김캐셔", "role": "manager"},
        headers=owner,
    )
    assert renamed.status_code == 200
    assert renamed.json == {"staff_id": cashier["staff_id"], "name": "김캐셔", "role": "manager"}
    assert (
        client.put(f"/stores/staff/{cashier['staff_id']}", json={}, headers=owner).json["error"][
            "code"
        ]
        == "nothing_to_update"
    )

    deleted = client.delete(f"/stores/staff/{cashier['staff_id']}", headers=owner)
    assert deleted.status_code == 200 and deleted.json["staff_id"] == cashier["staff_id"]
    assert client.get("/stores/staff", headers=owner).json == {"staff": [created.json]}
    assert client.delete(f"/stores/staff/{cashier['staff_id']}", headers=owner).status_code == 404
    assert (
        client.put(f"/stores/staff/{cashier['staff_id']}", json={"name": "x"}, headers=owner)
    ).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a", "role": "cashier", "pin": 1234},  # a number loses leading zeros: string only
        {"name": "a", "role": "cashier", "pin": "123"},
        {"name": "a", "role": "cashier", "pin": "1234567"},
        {"name": "a", "role": "cashier", "pin": "12a4"},
        {"name": "a", "role": "cashier", "pin": "١٢٣٤"},  # Arabic-Indic digits are not 0-9
        {"name": "a", "role": "owner", "pin": "1234"},
        {"name": "", "role": "cashier", "pin": "1234"},
        {"role": "cashier", "pin": "1234"},
    ],
)
def test_bad_staff_input_is_422_and_writes_nothing(app, client, owner, body):
    before = len(staff_rows(app))
    response = client.post("/stores/staff", json=body, headers=owner)
    assert response.status_code == 422
    assert response.json["result"] == "failed"
    assert len(staff_rows(app)) == before


def test_pin_unique_in_the_store_only_among_live_staff(client, owner):
    first = add_staff(client, owner, pin="5555").json
    again = add_staff(client, owner, pin="5555")
    assert again.status_code == 409 and again.json["error"]["code"] == "pin_taken"
    other = add_staff(client, owner, pin="5556").json
    clash = client.put(f"/stores/staff/{other['staff_id']}", json={"pin": "5555"}, headers=owner)
    assert clash.status_code == 409 and clash.json["error"]["code"] == "pin_taken"
    # the same PIN again on the same member is no clash
    same = client.put(f"/stores/staff/{first['staff_id']}", json={"pin": "5555"}, headers=owner)
    assert same.status_code == 200
    assert client.delete(f"/stores/staff/{first['staff_id']}", headers=owner).status_code == 200
    assert add_staff(client, owner, pin="5555").status_code == 201  # freed by the deletion


def test_same_pin_in_two_stores(client, owner):
    other_owner = owner_of_new_store(client)
    assert add_staff(client, owner, pin="2468").status_code == 201
    assert add_staff(client, other_owner, pin="2468").status_code == 201


def owner_of_new_store(client):
    created = client.post(
        "/stores/",
        json={
            "username": f"staff-other-{next(_names)}-{time.monotonic_ns()}",
            "password": "secret-pw",
            "owner_name": "이사장",
            "phone": "01087654321",
            "store_name": "옆 가게",
            "address": "부산",
            "store_type": "식당",
        },
    )
    return auth_headers(created.json["token"]["access_token"])


def test_other_stores_staff_is_not_found(client, owner):
    member = add_staff(client, owner, pin="1357").json
    stranger = owner_of_new_store(client)
    path = f"/stores/staff/{member['staff_id']}"
    assert client.put(path, json={"name": "x"}, headers=stranger).status_code == 404
    assert client.delete(path, headers=stranger).status_code == 404
    assert client.get("/stores/staff", headers=stranger).json == {"staff": []}
    assert session(client, stranger, "1357").status_code == 401


def test_pin_session_gives_a_12_hour_staff_token(app, client, owner):
    member = add_staff(client, owner, pin="8080", role="manager", name="박매니저").json
    opened = session(client, owner, "8080")
    assert opened.status_code == 200
    body = opened.json
    assert (body["staff_id"], body["role"], body["name"]) == (
        member["staff_id"],
        "manager",
        "박매니저",
    )
    claims = jwt.decode(
        body["access_token"],
        TEST_SECRETS["JWT_SECRET"],
        algorithms=["HS256"],
        audience="salesync-pos",
        issuer="salesync-store",
    )
    assert claims["exp"] - claims["iat"] == STAFF_TOKEN_TTL_SECONDS == 12 * 3600
    assert (claims["role"], claims["staff_id"], claims["tz"]) == (
        "manager",
        member["staff_id"],
        "Asia/Seoul",
    )
    owner_claims = jwt.decode(
        owner["Authorization"].split()[1],
        TEST_SECRETS["JWT_SECRET"],
        algorithms=["HS256"],
        audience="salesync-pos",
    )
    assert claims["sub"] == owner_claims["sub"] and "role" not in owner_claims
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == claims["exp"]
    identity = decode_access_token(app.extensions["salesync"].settings, body["access_token"])
    assert (identity.role, identity.staff_id, identity.is_owner) == (
        "manager",
        member["staff_id"],
        False,
    )

    staff_headers = auth_headers(body["access_token"])
    # a staff token opens no session and manages no staff: that is the owner's
    for response in (
        client.post("/stores/staff/session", json={"pin": "8080"}, headers=staff_headers),
        client.get("/stores/staff", headers=staff_headers),
        client.post(
            "/stores/staff",
            json={"name": "x", "role": "manager", "pin": "9999"},
            headers=staff_headers,
        ),
    ):
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden"


def test_deleted_staff_can_no_longer_open_a_session(client, owner):
    member = add_staff(client, owner, pin="7777").json
    assert session(client, owner, "7777").status_code == 200
    client.delete(f"/stores/staff/{member['staff_id']}", headers=owner)
    refused = session(client, owner, "7777")
    assert refused.status_code == 401 and refused.json["error"]["code"] == "invalid_pin"


def store_id_of(owner):
    return int(
        jwt.decode(
            owner["Authorization"].split()[1],
            TEST_SECRETS["JWT_SECRET"],
            algorithms=["HS256"],
            audience="salesync-pos",
        )["sub"]
    )


def guard_of(app, owner):
    with app.app_context():
        guard = db.session.get(PinGuard, store_id_of(owner))
        db.session.commit()
        return guard


def test_five_wrong_pins_lock_every_attempt_of_the_store(app, client, owner):
    add_staff(client, owner, pin="1111")
    add_staff(client, owner, pin="2222")
    # a right PIN resets the count: 4 wrong, 1 right, then 4 wrong again are not a lockout
    for _ in range(4):
        assert session(client, owner, "0000").status_code == 401
    assert session(client, owner, "1111").status_code == 200
    lefts = []
    for _ in range(5):
        wrong = session(client, owner, "0000")
        assert wrong.status_code == 401 and wrong.json["error"]["code"] == "invalid_pin"
        lefts.append(wrong.json["attempts_left"])
    assert lefts == [4, 3, 2, 1, 0]
    # the 6th attempt, with a right PIN of another member, is refused too
    locked = session(client, owner, "2222")
    assert locked.status_code == 429
    assert locked.json["error"]["code"] == "pin_locked"
    assert 0 < locked.json["retry_after"] <= LOCKOUT_SECONDS
    assert session(client, owner, "1111").status_code == 429
    # another store is not affected
    other = owner_of_new_store(client)
    add_staff(client, other, pin="1111")
    assert session(client, other, "1111").status_code == 200
    # the lock ends after the window; attempts during it did not extend it
    time.sleep(LOCKOUT_SECONDS + 0.2)
    assert session(client, owner, "1111").status_code == 200
    guard = guard_of(app, owner)
    assert guard.failed_attempts == 0 and guard.locked_until is None


def run_parallel(count, call):
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        barrier.wait()
        results[index] = call(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_wrong_pins_get_exactly_five_guesses(app, serve, client, owner):
    served = serve(app)
    add_staff(client, owner, pin="4243")

    def attempt(index: int) -> int:
        return requests.post(
            f"{served.url}/stores/staff/session",
            json={"pin": f"{index:04d}"},
            headers=owner,
            timeout=30,
        ).status_code

    statuses = run_parallel(12, attempt)
    assert statuses.count(401) == 5 and statuses.count(429) == 7
    assert (
        requests.post(
            f"{served.url}/stores/staff/session", json={"pin": "4243"}, headers=owner, timeout=30
        ).status_code
        == 429
    )


def test_two_concurrent_creations_with_the_same_pin(app, serve, client, owner):
    served = serve(app)
    before = len(staff_rows(app))

    def create(index: int) -> requests.Response:
        return requests.post(
            f"{served.url}/stores/staff",
            json={"name": f"동시{index}", "role": "cashier", "pin": "3690"},
            headers=owner,
            timeout=30,
        )

    for _ in range(3):  # a few rounds: each pair truly races on the unique index
        responses = run_parallel(2, create)
        assert sorted(r.status_code for r in responses) == [201, 409]
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.json()["error"]["code"] == "pin_taken"
        winner = next(r for r in responses if r.status_code == 201).json()
        assert (
            client.delete(f"/stores/staff/{winner['staff_id']}", headers=owner).status_code == 200
        )
    assert len(staff_rows(app)) == before + 3


def test_internal_staff_list_includes_deleted_members(app, client, owner):
    kept = add_staff(client, owner, pin="1212").json
    gone = add_staff(client, owner, pin="2121").json
    client.delete(f"/stores/staff/{gone['staff_id']}", headers=owner)
    store_id = store_id_of(owner)
    service_token = app.extensions["salesync"].tokens.token()
    listed = client.get(
        f"/internal/stores/{store_id}/staff", headers={"X-Service-Token": service_token}
    )
    assert listed.status_code == 200
    assert listed.json == {
        "staff": [{**kept, "deleted": False}, {**gone, "deleted": True}],
    }
    assert client.get(f"/internal/stores/{store_id}/staff", headers=owner).status_code == 401


def test_openapi_documents_staff_with_examples_and_permissions(client):
    from openapi_spec_validator import validate

    document = client.get("/openapi.json").json
    validate(document)
    paths = document["paths"]
    for path, method in (
        ("/stores/staff", "get"),
        ("/stores/staff", "post"),
        ("/stores/staff/{staff_id}", "put"),
        ("/stores/staff/{staff_id}", "delete"),
        ("/stores/staff/session", "post"),
    ):
        operation = paths[path][method]
        assert operation["x-permission"] == "staff" and operation["x-roles"] == ["owner"]
        assert "403" in operation["responses"]
    schemas = document["components"]["schemas"]
    for name in ("StaffIn", "StaffOut", "StaffListOut", "PinIn", "StaffSessionOut"):
        assert "example" in schemas[name], name
    session_op = paths["/stores/staff/session"]["post"]
    assert {"401", "403", "429"} <= set(session_op["responses"])
    assert "pin_locked" in session_op["description"]
    # the PIN is a string of digits, never a number
    assert schemas["PinIn"]["properties"]["pin"]["type"] == "string"


def test_staff_and_lockout_on_the_embedded_sqlite(tmp_path):
    """`make run` keeps the store in SQLite: the same migration, index and lockout work there."""
    from devstack.testing import build_app, make_settings

    settings = make_settings(
        "store_service", None, sqlite_dir=str(tmp_path), pin_lockout_seconds=60
    )
    lite = build_app("store_service", settings).test_client()
    owner = owner_of_new_store(lite)
    assert add_staff(lite, owner, pin="1111").status_code == 201
    assert add_staff(lite, owner, pin="1111").json["error"]["code"] == "pin_taken"
    assert session(lite, owner, "1111").status_code == 200
    assert [session(lite, owner, "0000").status_code for _ in range(5)] == [401] * 5
    assert session(lite, owner, "1111").status_code == 429
