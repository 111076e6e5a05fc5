"""Store service contract, bad input, concurrency and token tests on PostgreSQL."""

from __future__ import annotations

import threading
import time

import jwt
import pytest
from sqlalchemy import delete, func, select

from devstack.testing import TEST_SECRETS, auth_headers
from store_service.app.models import Store, db

SIGNUP = {
    "username": "owner1",
    "password": "secret-pw",
    "owner_name": "김사장",
    "phone": "01012345678",
    "store_name": "맛있는 가게",
    "address": "서울시 중구",
    "store_type": "일반음식점",
}


@pytest.fixture(scope="module")
def app(service_app):
    return service_app("store_service", rate_limits_enabled=False)


@pytest.fixture()
def client(app):
    return app.test_client()


def store_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Store))


def signup(client, **changes):
    return client.post("/stores/", json={**SIGNUP, **changes})


def login(client, username, password):
    response = client.post("/stores/login", json={"username": username, "password": password})
    return response


def test_signup_check_login_profile(client):
    assert client.get("/stores/check?username=alice").json == {
        "result": "success",
        "message": "사용 가능한 아이디입니다.",
    }
    created = signup(client, username="alice")
    assert created.status_code == 201
    body = created.json
    assert body["result"] == "success" and body["message"] == "매장 등록 성공"
    assert isinstance(body["store_id"], int)
    assert set(body["token"]) == {"access_token", "csrf_token"}
    assert client.get("/stores/check?username=alice").json == {
        "result": "failed",
        "message": "이미 존재하는 아이디입니다.",
    }
    logged = login(client, "alice", SIGNUP["password"])
    assert logged.status_code == 200
    assert set(logged.json) == {"result", "store_id", "access_token", "csrf_token"}
    profile = client.get("/stores/", headers=auth_headers(logged.json["access_token"]))
    assert profile.status_code == 200
    assert profile.json == {
        "store": {
            "store_id": body["store_id"],
            "username": "alice",
            "owner_name": SIGNUP["owner_name"],
            "phone": SIGNUP["phone"],
            "store_name": SIGNUP["store_name"],
            "address": SIGNUP["address"],
            "store_type": SIGNUP["store_type"],
        }
    }
    # the signup token works as well, and the path without the slash is served without redirect
    assert (
        client.get("/stores", headers=auth_headers(body["token"]["access_token"])).status_code
        == 200
    )


def test_token_claims(client):
    token = signup(client, username="claims").json["token"]["access_token"]
    claims = jwt.decode(
        token, TEST_SECRETS["JWT_SECRET"], algorithms=["HS256"], audience="salesync-pos"
    )
    assert claims["sub"].isdigit() and claims["iss"] == "salesync-store"
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600


def test_duplicate_signup_is_409(client, app):
    assert signup(client, username="dup").status_code == 201
    before = store_count(app)
    again = signup(client, username="dup")
    assert again.status_code == 409
    assert again.json["result"] == "failed"
    assert store_count(app) == before


def test_wrong_credentials_same_answer(client):
    signup(client, username="bob")
    wrong_password = login(client, "bob", "not-the-password")
    unknown_user = login(client, "nobody-here", "whatever-pw")
    for response in (wrong_password, unknown_user):
        assert response.status_code == 400
        assert response.json == {"result": "failed", "error": "Invalid username or password"}


def test_unknown_username_costs_a_hash(client):
    signup(client, username="timing")
    rounds = 5
    started = time.perf_counter()
    for _ in range(rounds):
        login(client, "timing", "bad-password")
    known = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(rounds):
        login(client, "unknown-user-x", "bad-password")
    unknown = time.perf_counter() - started
    # both paths verify an argon2 hash; an unknown user must not answer much faster
    assert unknown > known * 0.5


def test_pwcheck_and_password_change(client):
    created = signup(client, username="carol").json
    headers = auth_headers(created["token"]["access_token"])
    assert client.post("/stores/pwcheck", json={"password": "secret-pw"}, headers=headers).json == {
        "result": "success",
        "message": "비밀번호가 일치합니다.",
    }
    assert client.post("/stores/pwcheck", json={"password": "nope"}, headers=headers).json == {
        "result": "failed",
        "message": "비밀번호가 일치하지 않습니다.",
    }
    changed = client.put(
        f"/stores/{created['store_id']}", json={"password": "new-secret"}, headers=headers
    )
    assert changed.status_code == 200
    assert changed.json == {
        "result": "success",
        "message": "매장 정보 수정 성공",
        "store_id": created["store_id"],
    }
    assert login(client, "carol", "secret-pw").status_code == 400
    assert login(client, "carol", "new-secret").status_code == 200


def test_profile_update_other_fields(client):
    created = signup(client, username="dave").json
    headers = auth_headers(created["token"]["access_token"])
    response = client.put(
        f"/stores/{created['store_id']}", json={"store_name": "새 이름"}, headers=headers
    )
    assert response.status_code == 200
    assert client.get("/stores/", headers=headers).json["store"]["store_name"] == "새 이름"


def test_cannot_update_another_store(client):
    victim = signup(client, username="victim").json
    attacker = signup(client, username="attacker").json
    response = client.put(
        f"/stores/{victim['store_id']}",
        json={"password": "hijacked"},
        headers=auth_headers(attacker["token"]["access_token"]),
    )
    assert response.status_code == 403
    assert login(client, "victim", "secret-pw").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {**SIGNUP, "username": ""},
        {**SIGNUP, "username": "   "},
        {**SIGNUP, "username": "a" * 51},
        {**SIGNUP, "username": 123},
        {**SIGNUP, "password": None},
        {**SIGNUP, "password": "x"},
        {**SIGNUP, "phone": "call me"},
        {**SIGNUP, "store_name": "가" * 10_000},
        {**SIGNUP, "address": ["list"]},
        {k: v for k, v in SIGNUP.items() if k != "store_type"},
    ],
)
def test_signup_bad_input_writes_nothing(client, app, body):
    before = store_count(app)
    response = client.post("/stores/", json=body)
    assert 400 <= response.status_code < 500
    assert response.json["result"] == "failed"
    assert "code" in response.json["error"]
    assert store_count(app) == before


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ("null", "application/json", 400),
        ("username=x", "application/x-www-form-urlencoded", 415),
        ("x" * 300_000, "application/json", 413),
    ],
)
def test_malformed_bodies(client, data, content_type, status):
    response = client.post("/stores/login", data=data, content_type=content_type)
    assert response.status_code == status
    assert response.json["result"] == "failed"


def test_check_requires_a_username(client):
    for url in ("/stores/check", "/stores/check?username=", "/stores/check?username=a%20b"):
        response = client.get(url)
        assert response.status_code == 400
        assert response.json["result"] == "failed"


def test_unknown_paths_and_methods_are_json(client):
    assert client.get("/stores/nothing/here").status_code == 404
    response = client.delete("/stores/")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert client.put("/stores/abc", json={}).status_code == 404
    assert client.put("/stores/99999999999", json={}).status_code == 404


def test_concurrent_signups_one_username(app):
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def attempt() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(signup(client, username="race").status_code)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 19
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Store.username == "race")) == 1


def forge(claims: dict, secret: str = TEST_SECRETS["JWT_SECRET"], algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def test_bad_tokens_are_401(client, app):
    created = signup(client, username="tokens").json
    sid = str(created["store_id"])
    now = int(time.time())
    valid = {
        "sub": sid,
        "iat": now,
        "exp": now + 60,
        "iss": "salesync-store",
        "aud": "salesync-pos",
    }
    header, payload, _ = forge(valid).split(".")
    unsigned = jwt.encode(valid, None, algorithm="none")
    bad = [
        None,
        "Bearer",
        "Bearer null",
        "Token " + forge(valid),
        "Bearer " + forge(valid, secret="wrong-secret-" + "z" * 32),
        "Bearer " + unsigned,
        "Bearer " + f"{header}.{payload}.",
        "Bearer " + forge({**valid, "exp": now - 10}),
        "Bearer " + forge({**valid, "aud": "someone-else"}),
        "Bearer " + forge({k: v for k, v in valid.items() if k != "exp"}),
    ]
    for value in bad:
        headers = {"Authorization": value} if value else {}
        response = client.get("/stores/", headers=headers)
        assert response.status_code == 401, value
        assert response.json["result"] == "failed"
    assert (
        client.get("/stores/", headers={"Authorization": "Bearer " + forge(valid)}).status_code
        == 200
    )


def test_token_of_deleted_store_is_401(client, app):
    created = signup(client, username="gone").json
    with app.app_context():
        db.session.execute(delete(Store).where(Store.store_id == created["store_id"]))
        db.session.commit()
    response = client.get("/stores/", headers=auth_headers(created["token"]["access_token"]))
    assert response.status_code == 401


def test_login_rate_limited(service_app):
    limited = service_app(
        "store_service", login_rate_limit_username="3/minute", login_rate_limit_ip="100/minute"
    )
    client = limited.test_client()
    statuses = [login(client, "brute", f"guess-{i}").status_code for i in range(5)]
    assert statuses[:3] == [400, 400, 400]
    assert statuses[3:] == [429, 429]
    assert (
        client.post("/stores/login", json={"username": "brute", "password": "x"}).json["error"][
            "code"
        ]
        == "rate_limited"
    )


def test_internal_requires_service_token(client, app):
    created = signup(client, username="internal").json
    path = f"/internal/stores/{created['store_id']}"
    assert client.get(path).status_code == 401
    user_token = created["token"]["access_token"]
    assert client.get(path, headers={"X-Service-Token": user_token}).status_code == 401
    runtime = app.extensions["salesync"]
    response = client.get(path, headers={"X-Service-Token": runtime.tokens.token()})
    assert response.status_code == 200
    assert response.json["time_zone"] == "Asia/Seoul"
    assert response.json["phone"] == SIGNUP["phone"]


def test_business_number_is_optional_normalised_and_internal(client, app):
    created = signup(client, username="bizno").json
    headers = auth_headers(created["token"]["access_token"])
    path = f"/internal/stores/{created['store_id']}"
    service = {"X-Service-Token": app.extensions["salesync"].tokens.token()}
    assert client.get(path, headers=service).json["business_number"] is None
    for bad in ("12345", "123-45-6789x", 1234567890, "1234567890123"):
        refused = client.put(
            f"/stores/{created['store_id']}", json={"business_number": bad}, headers=headers
        )
        assert refused.status_code == 422, bad
    response = client.put(
        f"/stores/{created['store_id']}", json={"business_number": "1234567890"}, headers=headers
    )
    assert response.json == {
        "result": "success",
        "message": "매장 정보 수정 성공",
        "store_id": created["store_id"],
    }
    assert client.get(path, headers=service).json["business_number"] == "123-45-67890"
    # the first contract's profile keeps its exact fields
    assert "business_number" not in client.get("/stores/", headers=headers).json["store"]
