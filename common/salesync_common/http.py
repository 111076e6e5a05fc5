"""The client every service uses to call a sibling service.

Timeouts on every call, bounded retries with backoff only where a retry is safe (reads, and writes
the callee makes idempotent), ``X-Request-ID`` propagation, the service credential, pooled
keep-alive connections, and one clear error per failure: 503 unreachable, 504 too slow, 502 bad
answer. One slow service never hangs its callers.

``inproc://<service>`` URLs (``make run``, one process) call the sibling's WSGI app in the same
process, registered with :func:`register_in_process`: the same client code, headers and error
mapping, no socket.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import EnvironBuilder, run_wsgi_app

from salesync_common.auth import SERVICE_TOKEN_HEADER, ServiceTokenIssuer
from salesync_common.context import REQUEST_ID_HEADER, current_request_id
from salesync_common.errors import UpstreamError, bad_gateway
from salesync_common.metrics import DEPENDENCY_ERRORS, DEPENDENCY_LATENCY
from salesync_common.settings import ServiceSettings

log = logging.getLogger(__name__)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_BACKOFF_SECONDS = (0.05, 0.2, 0.5)
IN_PROCESS_SCHEME = "inproc"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_in_process_apps: dict[str, WsgiApp] = {}
_in_process_lock = threading.Lock()


def register_in_process(service: str, app: WsgiApp) -> None:
    """Make ``inproc://<service>`` reach ``app`` (the embedded mode registers every service)."""
    with _in_process_lock:
        _in_process_apps[service] = app


class InProcessAdapter(BaseAdapter):
    """A requests transport that hands the request to a registered WSGI app, in this thread.

    The callee runs in a copy of the caller's context, so its request hooks (request id, store id,
    service name, Flask's own contexts) never leak back into the caller's request.
    """

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        # No socket: the transport options (timeout, TLS, proxies) do not apply in process.
        url = urlsplit(request.url or "")
        service = (url.hostname or "").removesuffix(f".{IN_PROCESS_SCHEME}")
        with _in_process_lock:
            app = _in_process_apps.get(service)
        if app is None:
            raise requests.ConnectionError(f"no in-process app registered for {service!r}")
        body = request.body.encode() if isinstance(request.body, str) else request.body
        if body is not None and not isinstance(body, bytes):
            # requests streams only file-like or generator bodies; no sibling call sends one
            raise TypeError("in-process calls carry the body as bytes")
        environ = EnvironBuilder(
            path=url.path or "/",
            query_string=url.query,
            method=request.method or "GET",
            headers=[
                (name, value.decode("latin-1") if isinstance(value, bytes) else value)
                for name, value in request.headers.items()
            ],
            data=body or b"",
        ).get_environ()
        app_iter, status, headers = contextvars.copy_context().run(
            run_wsgi_app, app, environ, buffered=True
        )
        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.headers = CaseInsensitiveDict(dict(headers.items()))
        response._content = b"".join(app_iter)
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


@dataclass
class UpstreamResponse:
    status: int
    body: Any
    headers: dict[str, str]
    raw: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class ServiceClient:
    """HTTP client for one sibling service (``name`` is used in errors and metrics)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        settings: ServiceSettings,
        tokens: ServiceTokenIssuer | None = None,
        *,
        pool_size: int = 32,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        in_process = self.base_url.startswith(f"{IN_PROCESS_SCHEME}://")
        if in_process:
            # requests only encodes params into http(s) URLs: address the app as an http host
            # that only the in-process adapter below serves.
            service = self.base_url.removeprefix(f"{IN_PROCESS_SCHEME}://")
            self.base_url = f"http://{service}.{IN_PROCESS_SCHEME}"
        self._settings = settings
        self._tokens = tokens
        self._session = requests.Session()
        self._session.trust_env = False  # cluster-local calls never go through a proxy
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        if in_process:
            self._session.mount(f"{self.base_url}/", InProcessAdapter())

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
    ) -> UpstreamResponse:
        """Send a request; return any HTTP answer below 500, raise UpstreamError otherwise."""
        method = method.upper()
        retry = method in _SAFE_METHODS if idempotent is None else idempotent
        attempts = 1 + (self._settings.http_retries if retry else 0)
        send_headers = {"Accept": "application/json"}
        request_id = current_request_id()
        if request_id:
            send_headers[REQUEST_ID_HEADER] = request_id
        if self._tokens is not None:
            send_headers[SERVICE_TOKEN_HEADER] = self._tokens.token()
        if headers:
            send_headers.update(headers)
        read_timeout = timeout or self._settings.http_timeout_seconds
        url = f"{self.base_url}{path}"
        last_error: UpstreamError | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(_BACKOFF_SECONDS[min(attempt - 1, len(_BACKOFF_SECONDS) - 1)])
            started = time.perf_counter()
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=send_headers,
                    timeout=(self._settings.http_connect_timeout_seconds, read_timeout),
                    allow_redirects=False,
                )
            except requests.Timeout as exc:
                last_error = self._failure(504, "timeout", exc)
                if isinstance(exc, requests.ConnectTimeout):
                    last_error = self._failure(503, "connect_timeout", exc)
                continue
            except requests.ConnectionError as exc:
                last_error = self._failure(503, "unreachable", exc)
                continue
            finally:
                DEPENDENCY_LATENCY.labels(self.name).observe(time.perf_counter() - started)
            if response.status_code >= 500:
                last_error = self._failure(
                    503 if response.status_code == 503 else 502,
                    f"status_{response.status_code}",
                    None,
                )
                continue
            return UpstreamResponse(
                status=response.status_code,
                body=_json_or_none(response),
                headers=dict(response.headers),
                raw=response.content,
            )
        assert last_error is not None
        raise last_error

    def _failure(self, status: int, reason: str, exc: Exception | None) -> UpstreamError:
        DEPENDENCY_ERRORS.labels(self.name, reason).inc()
        log.warning("call to %s failed: %s", self.name, reason)
        messages = {
            503: f"{self.name} 서비스를 사용할 수 없습니다.",
            504: f"{self.name} 서비스가 제시간에 응답하지 않았습니다.",
            502: f"{self.name} 서비스가 올바르지 않은 응답을 보냈습니다.",
        }
        return UpstreamError(
            messages[status],
            status=status,
            code={503: "dependency_unavailable", 504: "dependency_timeout", 502: "bad_gateway"}[
                status
            ],
            extra={"dependency": self.name},
        )

    def get(self, path: str, **kwargs: Any) -> UpstreamResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> UpstreamResponse:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> UpstreamResponse:
        return self.request("PUT", path, **kwargs)

    def close(self) -> None:
        self._session.close()


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def expect_ok(response: UpstreamResponse, dependency: str) -> Any:
    """The body of a 2xx answer from an internal endpoint; anything else is a bad gateway."""
    if not response.ok or response.body is None:
        log.warning("%s answered %s to an internal call", dependency, response.status)
        raise bad_gateway(dependency)
    return response.body
