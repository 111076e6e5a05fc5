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
import json as jsonlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.exceptions import HTTPError as TransportError
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


@dataclass(frozen=True)
class _Call:
    """One request as a transport sends it (the client has built everything)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    connect_timeout: float
    read_timeout: float


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]
    content: bytes


class _CallFailed(Exception):
    """No HTTP answer: ``status`` (503 or 504) and ``reason`` as the metrics name them."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Transport(Protocol):
    def send(self, call: _Call) -> _Answer: ...

    def close(self) -> None: ...


class _NetworkTransport:
    """Pooled keep-alive connections (urllib3 directly: requests' per-call session, cookie and
    hook machinery cost more than the call itself on the payment path). No proxy, no redirects,
    no retries here: the client decides what is retried."""

    def __init__(self, pool_size: int) -> None:
        self._pools = urllib3.PoolManager(num_pools=4, maxsize=pool_size, retries=False)

    def send(self, call: _Call) -> _Answer:
        try:
            response = self._pools.request(
                call.method,
                call.url,
                body=call.body,
                headers=call.headers,
                timeout=urllib3.Timeout(connect=call.connect_timeout, read=call.read_timeout),
                redirect=False,
                retries=False,
            )
        except NewConnectionError as exc:  # refused, no route (a ConnectTimeoutError subclass)
            raise _CallFailed(503, "unreachable") from exc
        except ConnectTimeoutError as exc:
            raise _CallFailed(503, "connect_timeout") from exc
        except ReadTimeoutError as exc:
            raise _CallFailed(504, "timeout") from exc
        except TransportError as exc:  # reset, protocol error
            raise _CallFailed(503, "unreachable") from exc
        return _Answer(response.status, dict(response.headers), response.data)

    def close(self) -> None:
        self._pools.clear()


class _InProcessTransport:
    """Hands the request to a registered WSGI app, in this thread (``make run``).

    The callee runs in a copy of the caller's context, so its request hooks (request id, store id,
    service name, Flask's own contexts) never leak back into the caller's request. No socket: the
    timeouts do not apply in process.
    """

    def send(self, call: _Call) -> _Answer:
        parts = urlsplit(call.url)
        with _in_process_lock:
            app = _in_process_apps.get(parts.hostname or "")
        if app is None:
            raise _CallFailed(503, "unreachable")
        environ = EnvironBuilder(
            path=parts.path or "/",
            query_string=parts.query,
            method=call.method,
            headers=list(call.headers.items()),
            data=call.body or b"",
        ).get_environ()
        app_iter, status, answer_headers = contextvars.copy_context().run(
            run_wsgi_app, app, environ, buffered=True
        )
        return _Answer(
            int(status.split(" ", 1)[0]), dict(answer_headers.items()), b"".join(app_iter)
        )

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
        self._settings = settings
        self._tokens = tokens
        self._transport: _Transport = (
            _InProcessTransport()
            if self.base_url.startswith(f"{IN_PROCESS_SCHEME}://")
            else _NetworkTransport(pool_size)
        )

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
        """Send a request; return any HTTP answer below 500, raise UpstreamError otherwise.

        ``params`` go in the query string (a list value repeats its key, None is left out);
        ``json`` is sent as a JSON body, else ``data`` as is.
        """
        method = method.upper()
        retry = method in _SAFE_METHODS if idempotent is None else idempotent
        attempts = 1 + (self._settings.http_retries if retry else 0)
        send_headers = {"Accept": "application/json"}
        request_id = current_request_id()
        if request_id:
            send_headers[REQUEST_ID_HEADER] = request_id
        if self._tokens is not None:
            send_headers[SERVICE_TOKEN_HEADER] = self._tokens.token()
        body = data
        if json is not None:
            body = jsonlib.dumps(json, allow_nan=False).encode()
            send_headers["Content-Type"] = "application/json"
        if headers:
            send_headers.update(headers)
        url = f"{self.base_url}{path}"
        query = {key: value for key, value in (params or {}).items() if value is not None}
        if query:
            url = f"{url}?{urlencode(query, doseq=True)}"
        call = _Call(
            method,
            url,
            send_headers,
            body,
            connect_timeout=self._settings.http_connect_timeout_seconds,
            read_timeout=timeout or self._settings.http_timeout_seconds,
        )
        last_error: UpstreamError | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(_BACKOFF_SECONDS[min(attempt - 1, len(_BACKOFF_SECONDS) - 1)])
            started = time.perf_counter()
            try:
                answer = self._transport.send(call)
            except _CallFailed as failed:
                last_error = self._failure(failed.status, failed.reason)
                continue
            finally:
                DEPENDENCY_LATENCY.labels(self.name).observe(time.perf_counter() - started)
            if answer.status >= 500:
                last_error = self._failure(
                    503 if answer.status == 503 else 502, f"status_{answer.status}"
                )
                continue
            return UpstreamResponse(
                status=answer.status,
                body=_json_or_none(answer.content),
                headers=answer.headers,
                raw=answer.content,
            )
        assert last_error is not None
        raise last_error

    def _failure(self, status: int, reason: str) -> UpstreamError:
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
        self._transport.close()


def _json_or_none(content: bytes) -> Any:
    if not content:
        return None
    try:
        return jsonlib.loads(content)
    except ValueError:
        return None


def expect_ok(response: UpstreamResponse, dependency: str) -> Any:
    """The body of a 2xx answer from an internal endpoint; anything else is a bad gateway."""
    if not response.ok or response.body is None:
        log.warning("%s answered %s to an internal call", dependency, response.status)
        raise bad_gateway(dependency)
    return response.body
