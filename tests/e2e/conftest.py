"""The distributed stack for end-to-end tests: PostgreSQL, Redis, Kafka, moto (SNS), every service
as its own gunicorn process and nginx as the ingress in front — started once per test run. Every
call of these tests goes through nginx (``stack.url()``), as the frontend's do."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests
from moto.server import ThreadedMotoServer

from devstack import postgres
from devstack.stack import REPO, Stack
from devstack.testing import free_port

FRONTEND_ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="session")
def moto_sns() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def stack(moto_sns: str) -> Iterator[Stack]:
    dbname = f"salesync_e2e_{uuid.uuid4().hex[:8]}"
    stack = Stack(
        dbname=dbname,
        port_offset=1000,  # beside a `make up` stack on the default ports
        workers=1,
        threads=8,
        run_dir=REPO / "var" / "e2e",
        redis_db=1,
        extra_env={
            "SNS_ENDPOINT_URL": moto_sns,
            "AWS_REGION": "ap-northeast-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "SIGNUP_RATE_LIMIT_IP": "1000/hour",
            "LOGIN_RATE_LIMIT_IP": "1000/minute",
            "CONSULTING_RATE_LIMIT": "1000/hour",
            "SETTLEMENT_RATE_LIMIT": "1000/minute",
            "STREAM_HEARTBEAT_SECONDS": "1",  # the order stream's heartbeat, short for its test
            "STACK_LOG_LEVEL": os.environ.get("STACK_LOG_LEVEL", "WARNING"),
        },
    )
    stack.run_dir.mkdir(parents=True, exist_ok=True)
    try:
        stack.start()
    except Exception as exc:
        stack.stop()
        pytest.fail(f"the distributed stack did not start: {exc}")
    yield stack
    stack.stop()
    postgres.drop_database(dbname)


class Frontend:
    """Calls the public origin the way the React client does (headers, JSON, one origin)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.token: str | None = None
        self.csrf: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Origin": FRONTEND_ORIGIN}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
            headers["X-CSRF-Token"] = self.csrf or ""
        return headers

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        return self.session.request(
            method,
            self.base_url + path,
            headers=headers,
            timeout=30,
            allow_redirects=False,
            **kwargs,
        )

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: object = None, **kwargs) -> requests.Response:
        return self.call("POST", path, json=body, **kwargs)

    def put(self, path: str, body: object = None, **kwargs) -> requests.Response:
        return self.call("PUT", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.call("DELETE", path, **kwargs)


@pytest.fixture()
def frontend(stack: Stack) -> Frontend:
    return Frontend(stack.url())


def seoul_today() -> str:
    return datetime.now(ZoneInfo("Asia/Seoul")).date().isoformat()
