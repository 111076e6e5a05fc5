"""Declared endpoints: one decorator validates the request and documents it in OpenAPI.

A view declares its auth, permission, body/query models and responses once; the same pydantic
models validate the input and produce the OpenAPI document, so the two cannot drift::

    @bp.post("/")
    @endpoint("Sign up", auth=None, body=SignupIn, responses={201: SignupOut, 409: None})
    def signup(body: SignupIn) -> tuple[dict, int]: ...

    @bp.post("/<id:order_id>/discounts")
    @endpoint("Add a discount", permission="discount", body=DiscountIn, responses={201: OrderOut})
    def add_discount(order_id: int, body: DiscountIn) -> tuple[dict, int]: ...

Every ``auth="store"`` endpoint declares the permission it needs (a test fails otherwise); a staff
token without it is refused with 403 ``forbidden`` before the body is read, so nothing changes.

The OpenAPI document is built from these declarations by :mod:`salesync_common.openapi`.

Why not APIFlask (evaluated with its pydantic schema adapter, APIFlask 3.1.2, on the item
service's ``/categories`` endpoints): it would change answers the contract fixes. Its JSON input
reads ``request.get_json(force=True)``, so a ``text/plain`` body is accepted and creates the row
(the contract answers 415); a JSON array answers 422 instead of 400 ``invalid_body``; its
validation status is one per app (``VALIDATION_ERROR_STATUS_CODE``), where the dashboard's bad
dates answer 400 and every other body 422; its responses are re-validated through the output
model (a drift becomes a 500, and costs a validation per response on the hot path). The error
shape (``error_processor``), the auth/permission/idempotency wrapper (a decorator of our own
either way), the OpenAPI 3.0 dialect (``OPENAPI_VERSION``) and offline docs (its UI loads from
a CDN unless every ``SWAGGER_UI_*`` URL is overridden) could be bent to fit, but the input
handling could not without re-writing the adapter: what would be left of APIFlask is the
document builder, ~200 lines here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from flask import current_app, request
from pydantic import BaseModel, ValidationError

from salesync_common import permissions
from salesync_common.errors import ApiError
from salesync_common.permissions import Permission

AuthKind = Literal["store", "service"] | None
M = TypeVar("M", bound=BaseModel)
_SPEC_ATTRIBUTE = "_endpoint_spec"


@dataclass(frozen=True)
class EndpointSpec:
    summary: str
    auth: AuthKind
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    responses: dict[int, type[BaseModel] | None]
    tags: tuple[str, ...] = ()
    idempotent: bool = False
    description: str | None = None
    extra_errors: tuple[int, ...] = field(default=())
    permission: Permission | None = None
    media_type: str = "application/json"  # of the success responses (an event stream is not JSON)


def _field_errors(error: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"]) or "body"
        fields.setdefault(location, item["msg"])
    return fields


def parse_json_object() -> dict[str, Any]:
    if request.mimetype != "application/json":
        raise ApiError(status=415)
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError("요청 본문이 올바른 JSON이 아닙니다.", status=400, code="malformed_json")
    if not isinstance(data, dict):
        raise ApiError("요청 본문은 JSON 객체여야 합니다.", status=400, code="invalid_body")
    return data


def validate(
    model: type[M],
    data: dict[str, Any],
    *,
    status: int = 422,
    message: str | None = None,
    code: str | None = None,
) -> M:
    """Validate ``data``; failures answer ``status`` (422, or 400 where the contract says so)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(
            message, status=status, code=code or "validation_error", fields=_field_errors(exc)
        ) from exc


def parse_query(model: type[M], **failure: Any) -> M:
    # Repeated keys are ambiguous; the first value wins, as browsers and proxies mostly agree.
    return validate(model, {key: request.args.get(key) for key in request.args}, **failure)


def endpoint(
    summary: str,
    *,
    auth: AuthKind = "store",
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: dict[int, type[BaseModel] | None] | None = None,
    tags: tuple[str, ...] = (),
    idempotent: bool = False,
    description: str | None = None,
    extra_errors: tuple[int, ...] = (),
    permission: Permission | None = None,
    media_type: str = "application/json",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Authenticate, authorise, validate and document a view.

    ``permission`` (``auth="store"`` only) is what a staff token needs (see
    :mod:`salesync_common.permissions`); undeclared means the owner only. Validated models arrive
    as ``body``/``query``.
    """
    if permission is not None and auth != "store":
        raise ValueError("a permission applies to store-authenticated endpoints only")
    spec = EndpointSpec(
        summary=summary,
        auth=auth,
        body=body,
        query=query,
        responses=responses or {200: None},
        tags=tags,
        idempotent=idempotent,
        description=description,
        extra_errors=extra_errors,
        permission=permissions.check_declared(permission),
        media_type=media_type,
    )

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            runtime = current_app.extensions["salesync"]
            if auth == "store":
                permissions.require(runtime.authenticate_store(), permission)
            elif auth == "service":
                runtime.authenticate_service()
            if body is not None:
                kwargs["body"] = validate(body, parse_json_object())
            if query is not None:
                kwargs["query"] = parse_query(query)
            if idempotent and runtime.idempotency is not None:
                return runtime.idempotency.run(lambda: view(*args, **kwargs))
            return view(*args, **kwargs)

        setattr(wrapper, _SPEC_ATTRIBUTE, spec)
        return wrapper

    return decorate


def endpoint_spec(view: Callable[..., Any] | None) -> EndpointSpec | None:
    """What ``endpoint(...)`` declared for ``view`` (None for an undeclared view)."""
    return getattr(view, _SPEC_ATTRIBUTE, None)
