"""Schemathesis against the public OpenAPI document (merged by the BFF), through nginx, with a
token."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import requests

from devstack.stack import REPO

from .conftest import Frontend

pytestmark = pytest.mark.e2e

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def _seed(frontend: Frontend) -> None:
    """A store with a menu and an open table, so generated calls meet real data too."""
    created = frontend.post(
        "/stores/",
        {
            "username": "fuzz-owner",
            "password": "fuzz-password",
            "owner_name": "퍼즈",
            "phone": "01000000000",
            "store_name": "퍼즈 가게",
            "address": "서울",
            "store_type": "일반음식점",
        },
    ).json()
    frontend.token = created["token"]["access_token"]
    category = frontend.post("/categories/", {"name": "기본"}).json()["id"]
    item = frontend.post(f"/categories/{category}/items", {"name": "기본 메뉴", "price": "1000"})
    frontend.post(
        "/orders/", {"table_no": 1, "carts": [{"item_id": item.json()["id"], "quantity": 1}]}
    )


def test_public_api_conforms_to_its_document(stack) -> None:
    frontend = Frontend(stack.url())
    _seed(frontend)
    document = requests.get(f"{stack.url()}/openapi.json", timeout=30).json()
    assert document["openapi"].startswith("3.")
    operations = sum(len(item) for item in document["paths"].values())
    assert operations >= 36  # every contract route is documented

    report = REPO / "var" / "e2e" / "schemathesis.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{stack.url()}/openapi.json",
        "--header",
        f"Authorization: Bearer {frontend.token}",
        "--checks",
        CHECKS,
        # The coverage phase is left out: schemathesis 4.32.5 raises an internal KeyError while
        # generating coverage cases for POST /bff/costs (its own bug, not an API failure).
        "--phases",
        "examples,fuzzing,stateful",
        # The event stream never ends by design (its own tests read it with an SSE client).
        "--exclude-path",
        "/orders/stream",
        "--max-examples",
        os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"),
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "--seed",
        "20261123",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1500)
    (REPO / "var" / "e2e" / "schemathesis.out").write_text(result.stdout + result.stderr)
    print(result.stdout[-6000:])
    cases = re.findall(r"(\d[\d,]*) (?:generated|test cases)", result.stdout)
    print(
        f"schemathesis test cases: {cases[-1] if cases else 'unknown'} over {operations} operations"
    )
    (REPO / "var" / "e2e" / "schemathesis.summary").write_text(
        json.dumps({"operations": operations, "cases": cases[-1] if cases else None})
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
