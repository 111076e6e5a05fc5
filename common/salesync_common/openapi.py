"""The OpenAPI 3.0 document of a service, built from its ``endpoint(...)`` declarations.

The same pydantic models that validate a request describe it here, so the document cannot drift
from what the service accepts. Every path id is documented with the integer bound the URL
converter enforces (``types.ID_MAX``), and every error with the one error shape (``Error``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

from salesync_common import permissions
from salesync_common.api import EndpointSpec, endpoint_spec
from salesync_common.types import ID_MAX

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
        spec = endpoint_spec(view)
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
