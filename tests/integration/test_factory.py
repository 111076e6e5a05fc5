"""The shared app factory gives every one of the seven services the same edge.

One test per behaviour, run for each service as it is built for production (``create_app`` on
the test database): liveness naming the service, the one JSON error shape for unknown paths,
wrong methods, the request id echoed, metrics, and the OpenAPI document.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask

from salesync_common.api import endpoint_spec
from salesync_common.context import REQUEST_ID_HEADER

SERVICES = ("store", "item", "order", "sale", "dashboard", "consulting", "bff")
PATH_PARAM = re.compile(r"<(?:[a-zA-Z_]+(?:\([^)]*\))?:)?([a-zA-Z_]+)>")


def _package(service: str) -> str:
    return "bff" if service == "bff" else f"{service}_service"


@pytest.fixture(scope="module", params=SERVICES)
def built(request: pytest.FixtureRequest, service_app) -> tuple[str, Flask]:
    return request.param, service_app(_package(request.param))


def _is_error_shape(body: dict) -> bool:
    return body.get("result") == "failed" and isinstance(body.get("message"), str)


def test_healthz_names_the_service(built) -> None:
    service, app = built
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200 and answer.json == {"status": "ok", "service": service}
    assert app.extensions["salesync"].name == service


def test_unknown_path_and_wrong_method_answer_the_json_error_shape(built) -> None:
    _, app = built
    client = app.test_client()
    unknown = client.get("/no-such-path-anywhere")
    assert unknown.status_code == 404 and _is_error_shape(unknown.json)
    wrong = client.delete("/healthz")
    assert wrong.status_code == 405 and _is_error_shape(wrong.json)


def test_the_request_id_is_echoed_or_minted(built) -> None:
    _, app = built
    client = app.test_client()
    given = client.get("/healthz", headers={REQUEST_ID_HEADER: "req-factory-1"})
    assert given.headers[REQUEST_ID_HEADER] == "req-factory-1"
    assert client.get("/healthz").headers.get(REQUEST_ID_HEADER)


def test_metrics_are_exposed(built) -> None:
    _, app = built
    app.test_client().get("/healthz")
    answer = app.test_client().get("/metrics")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert b"salesync_http_requests_total" in answer.data


@pytest.mark.parametrize("service", [s for s in SERVICES if s != "bff"])
def test_the_openapi_document_declares_every_endpoint(service: str, service_app) -> None:
    """Every ``endpoint(...)`` view is in the document (the BFF merges its siblings': e2e)."""
    app = service_app(_package(service))
    document = app.test_client().get("/openapi.json").json
    assert document["openapi"] == "3.0.3"
    declared = {
        (PATH_PARAM.sub(r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if endpoint_spec(app.view_functions.get(rule.endpoint)) is not None
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert declared and declared == documented
    for operations in document["paths"].values():
        for operation in operations.values():
            assert operation["responses"], operation["operationId"]
