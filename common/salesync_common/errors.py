"""One JSON error shape for every failure, in the contract's form.

``{"result": "failed", "message": <human text>, "error": {"code": <slug>, "fields": {...}}}``
HTML error pages never appear: every HTTP exception and every unexpected error is rendered here.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from salesync_common.pricing import PricingError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: ("bad_request", "잘못된 요청입니다."),
    401: ("unauthorized", "인증이 필요합니다."),
    403: ("forbidden", "권한이 없습니다."),
    404: ("not_found", "찾을 수 없습니다."),
    405: ("method_not_allowed", "허용되지 않는 메서드입니다."),
    409: ("conflict", "요청이 현재 상태와 충돌합니다."),
    413: ("payload_too_large", "요청 본문이 너무 큽니다."),
    415: ("unsupported_media_type", "Content-Type은 application/json이어야 합니다."),
    422: ("validation_error", "입력값이 올바르지 않습니다."),
    429: ("rate_limited", "요청이 너무 많습니다. 잠시 후 다시 시도하세요."),
    500: ("internal_error", "서버 내부 오류가 발생했습니다."),
    502: ("bad_gateway", "연동 서비스가 올바르지 않은 응답을 보냈습니다."),
    503: ("service_unavailable", "연동 서비스를 사용할 수 없습니다."),
    504: ("gateway_timeout", "연동 서비스가 제시간에 응답하지 않았습니다."),
}


class ApiError(Exception):
    """An error answered to the client as JSON with ``status``."""

    status: int = 400
    code: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        fields: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        default_code, default_message = _HTTP_CODES.get(self.status, ("error", "오류"))
        self.code = code or self.code or default_code
        self.message = message or default_message
        self.fields = fields or {}
        self.extra = extra or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "result": "failed",
            "message": self.message,
            "error": {"code": self.code, "fields": self.fields},
        }
        body.update(self.extra)
        return body


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class ValidationFailed(ApiError):
    status = 422


class UpstreamError(ApiError):
    """A dependency failed: 502 (bad answer), 503 (unreachable) or 504 (too slow)."""

    status = 503


def error_response(status: int, message: str | None = None, code: str | None = None) -> Response:
    error = ApiError(message, status=status, code=code)
    response = jsonify(error.body())
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        if error.status >= 500:
            log.warning("request failed: %s (%s)", error.code, error.message)
        response = jsonify(error.body())
        response.status_code = error.status
        return response

    @app.errorhandler(PricingError)
    def _pricing_error(error: PricingError) -> Response:
        # a pricing rule's refusal: 409 (business refusal) or 422, in the one error shape
        fields = {error.field: error.message} if error.field else None
        return _api_error(
            ApiError(error.message, status=error.status, code=error.code, fields=fields)
        )

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        response = error_response(status)
        valid_methods = getattr(error, "valid_methods", None)
        if status == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response

    @app.errorhandler(DBAPIError)
    def _database_error(error: DBAPIError) -> Response:
        if not error.connection_invalidated:
            return _unexpected(error)
        # a pooled connection PostgreSQL had closed (restart, failover): the pool is renewed
        log.warning("database connection lost: %s", type(error.orig).__name__)
        response = _api_error(
            ApiError(
                "데이터베이스에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.",
                status=503,
                code="database_unavailable",
            )
        )
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error: %s", type(error).__name__)
        return error_response(500)
