"""The public OpenAPI document: the services' own documents, cut down to what the ingress routes.

Each service documents its endpoints from the models that validate them. The BFF fetches every
service's document, keeps the paths the route table (``salesync_common.routing``) sends to that
service (never ``/internal``, ``/metrics`` or a service's own ``/healthz``), renames their schemas
per service (``store.SignupIn``) so they cannot clash, documents each ``/bff/*`` aggregation with
the dashboard operation that answers it, and adds the errors any public call can meet at the
ingress (400, 404, 405, 502-504).
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
from typing import Any

from flask import Flask

from salesync_common.errors import bad_gateway
from salesync_common.openapi import build_openapi
from salesync_common.routing import DEFAULT_SERVICE, SERVICES, owned_by

from .api.aggregates import DASHBOARD_PATHS

log = logging.getLogger(__name__)
_lock = threading.Lock()
_cache: dict[str, tuple[float, dict[str, Any]]] = {}
SHARED_ERROR = "#/components/schemas/Error"  # one error shape for every service
EDGE_ERRORS = {
    "400": "Bad request",
    "404": "Not found (unknown id, or another store's)",
    "405": "Method not allowed (an id outside the integer range falls on another route)",
    "401": "Missing or invalid token",
    "429": "Rate limited",
    "502": "A service answered badly",
    "503": "A service is unavailable",
    "504": "A service timed out",
}


# (producer method, path, status) -> links to the operations that use the id it returns; they let
# clients (and schemathesis' stateful phase) follow create -> read/update/delete.
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, str]]] = {
    ("post", "/categories/", "201"): {
        "RenameCategory": ("put_categories_category_id", "category_id", "$response.body#/id"),
        "DeleteCategory": ("delete_categories_category_id", "category_id", "$response.body#/id"),
        "AddItem": ("post_categories_category_id_items", "category_id", "$response.body#/id"),
    },
    ("post", "/categories/{category_id}/items", "201"): {
        "UpdateItem": ("put_categories_items_item_id", "item_id", "$response.body#/id"),
        "DeleteItem": ("delete_categories_items_item_id", "item_id", "$response.body#/id"),
    },
    ("post", "/orders/", "200"): {
        "ViewTable": ("get_orders_unpaids_table_no", "table_no", "$response.body#/table_no"),
        "CancelTable": ("delete_orders_table_no", "table_no", "$response.body#/table_no"),
    },
    ("post", "/sales/", "201"): {
        "Refund": ("delete_sales_sale_id", "sale_id", "$response.body#/id"),
    },
    ("get", "/consulting/", "200"): {
        "Status": ("get_consulting_req_id", "req_id", "$response.body#/req_id"),
        "Advice": ("get_dashboard_consulting_req_id", "req_id", "$response.body#/req_id"),
    },
    ("post", "/consulting/", "200"): {
        "Status": ("get_consulting_req_id", "req_id", "$response.body#/req_id"),
        "Advice": ("get_dashboard_consulting_req_id", "req_id", "$response.body#/req_id"),
    },
    ("get", "/consulting/test", "200"): {
        "Status": ("get_consulting_test_req_id", "req_id", "$response.body#/req_id"),
        "Advice": ("get_dashboard_consulting_test_req_id", "req_id", "$response.body#/req_id"),
    },
}


def _add_links(paths: dict[str, Any]) -> None:
    for (method, path, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: {"operationId": operation_id, "parameters": {parameter: expression}}
            for name, (operation_id, parameter, expression) in links.items()
        }


def _service_document(app: Flask, service: str) -> dict[str, Any]:
    runtime = app.extensions["salesync"]
    ttl = runtime.settings.openapi_cache_seconds
    with _lock:
        cached = _cache.get(service)
        if cached and time.monotonic() - cached[0] < ttl:
            return cached[1]
    response = runtime.client(service).get("/openapi.json")
    if not response.ok or not isinstance(response.body, dict):
        raise bad_gateway(service)
    with _lock:
        _cache[service] = (time.monotonic(), response.body)
    return response.body


def _rename_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                value.replace("#/components/schemas/", f"#/components/schemas/{prefix}.")
                if key == "$ref" and isinstance(value, str) and value != SHARED_ERROR
                else _rename_refs(value, prefix)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rename_refs(item, prefix) for item in node]
    return node


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _public_operation(path: str, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    """The operation as the public document shows it: a stable id, the ingress's errors."""
    operation = copy.deepcopy(operation)
    slug = re.sub(r"[^a-zA-Z0-9]+", "_", path).strip("_")
    operation["operationId"] = f"{method}_{slug}"
    has_path_params = any(p.get("in") == "path" for p in operation.get("parameters", []))
    responses = operation.setdefault("responses", {})
    edge = ["400", "404", "502", "503", "504"]
    edge += ["401"] if operation.get("security") else []
    edge += ["405"] if has_path_params else []
    for status in edge:
        responses.setdefault(status, _error_response(EDGE_ERRORS[status]))
    return operation


def build_public_openapi(
    app: Flask, *, title: str, description: str = "", **_: Any
) -> dict[str, Any]:
    own = build_openapi(app, title=title, description=description)
    schemas: dict[str, Any] = dict(own["components"]["schemas"])
    documents = {
        service: _service_document(app, service)
        for service in SERVICES
        if service != DEFAULT_SERVICE
    }
    paths: dict[str, Any] = {}
    for path, operations in own["paths"].items():
        if not owned_by(path, DEFAULT_SERVICE):
            continue
        upstream = DASHBOARD_PATHS.get(path)
        for method, operation in operations.items():
            if upstream is not None:  # documented by the dashboard operation that answers it
                operation = _rename_refs(
                    documents["dashboard"]["paths"][upstream][method], "dashboard"
                )
            paths.setdefault(path, {})[method] = _public_operation(path, method, operation)
    for service, document in documents.items():
        for path, operations in document.get("paths", {}).items():
            if not owned_by(path, service):
                continue
            for method, operation in operations.items():
                public = _public_operation(path, method, _rename_refs(operation, service))
                paths.setdefault(path, {})[method] = public
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            if name != "Error":
                schemas[f"{service}.{name}"] = _rename_refs(schema, service)
    _add_links(paths)
    own["paths"] = dict(sorted(paths.items()))
    own["components"]["schemas"] = dict(sorted(schemas.items()))
    return own
