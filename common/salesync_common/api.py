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
"""

from __future__ import annotations

import functools
import re
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

        wrapper._endpoint_spec = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


# ---------------------------------------------------------------------------------------------
# OpenAPI 3.0 document built from the declared endpoints.

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["result", "message"],
    "properties": {
        "result": {"type": "string", "enum": ["failed"]},
        "message": {"type": "string"},
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
}

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Bad request (malformed JSON, not an object)",
    401: "Missing or invalid token",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    415: "Content-Type must be application/json",
    422: "Validation failed",
    429: "Rate limited",
    502: "A dependency answered badly",
    503: "A dependency is unavailable",
    504: "A dependency timed out",
}
_CONVERTER = re.compile(r"<(?:(?P<conv>[a-zA-Z_]+)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_]+)>")
ID_MAX = 2_147_483_647


def _to_oas30(node: Any) -> Any:
    """Rewrite pydantic's JSON Schema (2020-12) into the OpenAPI 3.0 dialect."""
    if isinstance(node, list):
        return [_to_oas30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _to_oas30(value) for key, value in node.items()}
    if "$ref" in node:
        node["$ref"] = node["$ref"].replace("#/$defs/", "#/components/schemas/")
        if len(node) > 1:  # siblings of $ref are ignored in 3.0: wrap it
            ref = node.pop("$ref")
            node["allOf"] = [{"$ref": ref}]
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            del node[key]
            node["nullable"] = True
            if len(rest) == 1:
                only = rest[0]
                if "$ref" in only:
                    node["allOf"] = [only]
                else:
                    node.update(only)
            else:
                node[key] = rest
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("type") == "null":
        del node["type"]
        node["nullable"] = True
        node.setdefault("enum", [None])
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[plain] = node.pop(bound)
            node[bound] = True
    if "examples" in node and isinstance(node["examples"], list):
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    node.pop("$defs", None)
    return node


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def ref(self, model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict:
        schema = model.model_json_schema(ref_template="#/$defs/{model}", mode=mode)
        for name, definition in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, _to_oas30(definition))
        self.schemas.setdefault(model.__name__, _to_oas30(schema))
        return {"$ref": f"#/components/schemas/{model.__name__}"}


def _path_and_params(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = []

    def replace(match: re.Match[str]) -> str:
        conv, name = match.group("conv") or "string", match.group("name")
        schema: dict[str, Any] = {"type": "string"}
        if conv in {"int", "id"}:
            schema = {"type": "integer", "minimum": 0, "maximum": ID_MAX}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _CONVERTER.sub(replace, rule), params


def _query_params(model: type[BaseModel], components: _Components) -> list[dict[str, Any]]:
    schema = _to_oas30(model.model_json_schema(mode="validation"))
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _permission_doc(spec: EndpointSpec, description: str | None) -> dict[str, Any]:
    roles = permissions.roles_with(spec.permission)
    needed = f"`{spec.permission}`" if spec.permission else "the owner's token"
    line = f"Permission: {needed} ({', '.join(roles)}); otherwise 403 `forbidden`."
    return {
        "description": f"{description}\n\n{line}" if description else line,
        "x-permission": spec.permission,
        "x-roles": list(roles),
    }


def build_openapi(
    app: Any,
    *,
    title: str,
    version: str = "1.0.0",
    description: str = "",
    include: Callable[[str], bool] = lambda path: True,
) -> dict[str, Any]:
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        spec: EndpointSpec | None = getattr(view, "_endpoint_spec", None)
        if spec is None or not include(rule.rule):
            continue
        path, path_params = _path_and_params(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "operationId": f"{rule.endpoint.replace('.', '_')}_{method.lower()}",
                "summary": spec.summary,
                "tags": list(spec.tags),
                "parameters": list(path_params),
                "responses": {},
            }
            if spec.description:
                operation["description"] = spec.description
            if spec.query is not None:
                operation["parameters"] += _query_params(spec.query, components)
            if spec.idempotent:
                operation["parameters"].append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "A retry with the same key returns the first answer.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                )
            if spec.body is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {"schema": components.ref(spec.body, "validation")}
                    },
                }
            if spec.auth == "store":
                operation["security"] = [{"bearerAuth": []}]
                operation.update(_permission_doc(spec, operation.get("description")))
            elif spec.auth == "service":
                operation["security"] = [{"serviceToken": []}]
            else:
                operation["security"] = []
            errors = set(spec.extra_errors)
            if spec.auth:
                errors.add(401)
            if spec.auth == "store":
                errors.add(403)
            if path_params:
                errors.add(404)
            if spec.body is not None:
                errors |= {400, 413, 415, 422}
            if spec.query is not None:
                errors.add(422)
            if spec.idempotent:
                errors |= {409, 422}
            for status, model in sorted(spec.responses.items()):
                content_schema = (
                    components.ref(model, "serialization")
                    if model is not None
                    else {"type": "string"}
                    if spec.media_type != "application/json"
                    else {"type": "object"}
                )
                operation["responses"][str(status)] = {
                    "description": _STATUS_TEXT.get(status, "Response"),
                    "content": {spec.media_type: {"schema": content_schema}},
                }
            for status in sorted(errors - set(spec.responses)):
                operation["responses"][str(status)] = {
                    "description": _STATUS_TEXT.get(status, "Error"),
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "serviceToken": {"type": "apiKey", "in": "header", "name": "X-Service-Token"},
            },
        },
    }
