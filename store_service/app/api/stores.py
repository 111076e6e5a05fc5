"""Public store endpoints, exactly as the contract describes them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from salesync_common.api import endpoint
from salesync_common.app import runtime
from salesync_common.auth import current_store_id, issue_access_token, new_csrf_token
from salesync_common.errors import ApiError, Forbidden, Unauthorized
from salesync_common.ratelimit import rate_limit

from .. import services
from ..models import Store, db
from ..schemas import (
    LoginFailedOut,
    LoginIn,
    LoginOut,
    PasswordIn,
    ResultOut,
    SignupIn,
    SignupOut,
    StoreOut,
    StoreUpdatedOut,
    StoreUpdateIn,
    UsernameQuery,
)

bp = Blueprint("stores", __name__, url_prefix="/stores")
TAGS = ("stores",)


def login_username_key() -> str:
    """The login limit per username (whatever the client IP): stops spraying one account."""
    body = request.get_json(silent=True)
    username = body.get("username") if isinstance(body, dict) else None
    return f"login-user:{str(username)[:50].lower()}"


def _token_for(store: Store) -> str:
    return issue_access_token(runtime().settings, store.store_id, store.time_zone)


def current_store() -> Store:
    """The token's store (a token may outlive its store: then 401)."""
    store = db.session.get(Store, current_store_id())
    if store is None:  # a valid token for a store that no longer exists
        raise Unauthorized("존재하지 않는 매장의 토큰입니다.", code="store_not_found")
    return store


@bp.get("/check")
@endpoint("Is this username free?", auth=None, responses={200: ResultOut, 400: None}, tags=TAGS)
def check_username() -> dict[str, Any]:
    raw = request.args.get("username")
    try:
        query = UsernameQuery.model_validate({"username": raw})
    except ValueError as exc:
        raise ApiError("username을 확인하세요.", status=400, code="invalid_username") from exc
    if services.username_taken(db.session(), query.username):
        return {"result": "failed", "message": services.USERNAME_TAKEN}
    return {"result": "success", "message": "사용 가능한 아이디입니다."}


@bp.post("/")
@rate_limit("signup_rate_limit_ip")
@endpoint(
    "Sign up a store (and log it in)",
    auth=None,
    body=SignupIn,
    responses={201: SignupOut, 409: ResultOut},
    extra_errors=(429,),
    tags=TAGS,
)
def signup(body: SignupIn) -> tuple[dict[str, Any], int]:
    store = services.create_store(db.session(), body)
    token = {"access_token": _token_for(store), "csrf_token": new_csrf_token()}
    return {
        "result": "success",
        "message": "매장 등록 성공",
        "store_id": store.store_id,
        "token": token,
    }, 201


@bp.post("/login")
@rate_limit("login_rate_limit_ip")
@rate_limit("login_rate_limit_username", key=login_username_key)
@endpoint(
    "Log in",
    auth=None,
    body=LoginIn,
    responses={200: LoginOut, 400: LoginFailedOut},
    extra_errors=(429,),
    tags=TAGS,
)
def login(body: LoginIn) -> tuple[dict[str, Any], int]:
    store = services.authenticate(db.session(), body.username, body.password)
    if store is None:
        return {"result": "failed", "error": "Invalid username or password"}, 400
    return {
        "result": "success",
        "store_id": store.store_id,
        "access_token": _token_for(store),
        "csrf_token": new_csrf_token(),
    }, 200


@bp.get("/")
@endpoint("The token's store profile", permission="store", responses={200: StoreOut}, tags=TAGS)
def profile() -> dict[str, Any]:
    return {"store": current_store().profile()}


@bp.post("/pwcheck")
@endpoint(
    "Check the current password",
    permission="store",
    body=PasswordIn,
    responses={200: ResultOut},
    tags=TAGS,
)
def password_check(body: PasswordIn) -> dict[str, Any]:
    store = current_store()
    if services.password_matches(store.password_hash, body.password):
        return {"result": "success", "message": "비밀번호가 일치합니다."}
    return {"result": "failed", "message": "비밀번호가 일치하지 않습니다."}


@bp.put("/<id:store_id>")
@endpoint(
    "Change the password and/or profile of the token's own store",
    permission="store",
    body=StoreUpdateIn,
    responses={200: StoreUpdatedOut},
    extra_errors=(403,),
    tags=TAGS,
)
def update(store_id: int, body: StoreUpdateIn) -> dict[str, Any]:
    store = current_store()
    if store_id != store.store_id:
        raise Forbidden("다른 매장의 정보는 수정할 수 없습니다.", code="not_own_store")
    if not body.model_dump(exclude_none=True):
        raise ApiError("수정할 항목이 없습니다.", status=422, code="nothing_to_update")
    services.update_store(db.session(), store, body)
    return {"result": "success", "message": "매장 정보 수정 성공", "store_id": store.store_id}
