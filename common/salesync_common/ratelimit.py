"""Rate limits, declared on the views that own them and wired once by the app factory.

A view declares a limit by the name of the setting that holds its value::

    @bp.post("/login")
    @rate_limit("login_rate_limit_ip")                               # per client IP
    @rate_limit("login_rate_limit_username", key=login_username_key)
    @endpoint(...)
    def login(...): ...

:func:`salesync_common.app.create_service_app` gives each app that declares limits its own
Flask-Limiter (moving window, ``Retry-After`` headers) on ``RATE_LIMIT_STORAGE_URI``: Redis in
production and in the distributed stack, so every worker and pod shares one count, and
``memory://`` (per process) only where there is one process (``make run``, unit tests). Production
refuses ``memory://`` (:class:`RateLimitSettings`).

The client IP is ``request.remote_addr`` after the factory's ``ProxyFix``: the address our own
trusted proxy hops appended to ``X-Forwarded-For`` (``TRUSTED_PROXY_HOPS``), never an entry the
client wrote itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app, request
from flask_limiter import Limiter
from pydantic import model_validator

from salesync_common.settings import ServiceSettings

KeyFunc = Callable[[], str]
V = TypeVar("V", bound=Callable[..., Any])
_ATTRIBUTE = "_salesync_rate_limits"


class RateLimitSettings(ServiceSettings):
    """Settings of a service that owns rate limits (its subclass adds the limit values)."""

    rate_limit_storage_uri: str = "memory://"
    rate_limits_enabled: bool = True

    @model_validator(mode="after")
    def _shared_storage_in_production(self) -> RateLimitSettings:
        if self.is_production and self.rate_limit_storage_uri.startswith("memory://"):
            raise ValueError(
                "RATE_LIMIT_STORAGE_URI must point at Redis (rediss://...) in production: "
                "memory:// counts per process"
            )
        return self


@dataclass(frozen=True)
class RateLimit:
    setting: str  # the settings field holding the limit, e.g. "login_rate_limit_ip"
    key: KeyFunc | None = None  # None: per client IP
    shared_scope: str | None = None  # views with the same scope share one count


def rate_limit(
    setting: str, *, key: KeyFunc | None = None, shared_scope: str | None = None
) -> Callable[[V], V]:
    """Declare a limit on a view; the factory applies it (see the module docstring)."""

    def mark(view: V) -> V:
        limits: list[RateLimit] = list(getattr(view, _ATTRIBUTE, ()))
        limits.append(RateLimit(setting, key, shared_scope))
        setattr(view, _ATTRIBUTE, limits)
        return view

    return mark


def client_ip() -> str:
    """The client's address as our trusted proxies saw it (ProxyFix has set ``remote_addr``)."""
    return request.remote_addr or "unknown"


def store_or_ip_key() -> str:
    """Count per store (from a valid token); a request without one is counted per IP."""
    from salesync_common.auth import bearer_token, decode_access_token
    from salesync_common.errors import Unauthorized

    try:
        identity = decode_access_token(current_app.extensions["salesync"].settings, bearer_token())
    except Unauthorized:
        return f"ip:{client_ip()}"
    return f"store:{identity.store_id}"


def declared_limits(app: Flask) -> dict[str, list[RateLimit]]:
    return {
        name: list(getattr(view, _ATTRIBUTE))
        for name, view in app.view_functions.items()
        if getattr(view, _ATTRIBUTE, None)
    }


def init_rate_limits(app: Flask, settings: ServiceSettings) -> Limiter | None:
    """Give ``app`` its limiter and apply every declared limit (None when it declares none)."""
    declared = declared_limits(app)
    if not declared:
        return None  # no limiter hook on services without limits: they stay off the hot path
    if not isinstance(settings, RateLimitSettings):
        raise TypeError(f"{type(settings).__name__} must extend RateLimitSettings: it has limits")
    limiter = Limiter(
        key_func=client_ip,
        strategy="moving-window",
        headers_enabled=True,
        storage_uri=settings.rate_limit_storage_uri,
        enabled=settings.rate_limits_enabled,
    )
    for name, limits in declared.items():
        view: Callable[..., Any] = app.view_functions[name]
        # Declarations were recorded innermost first: apply them in that order, as if
        # Flask-Limiter's own decorators were stacked where they are written.
        for declared_limit in limits:
            value = _value_of(settings, declared_limit.setting)
            if declared_limit.shared_scope:
                decorator = limiter.shared_limit(
                    value, scope=declared_limit.shared_scope, key_func=declared_limit.key
                )
            else:
                decorator = limiter.limit(value, key_func=declared_limit.key)
            view = decorator(view)
        app.view_functions[name] = view
    limiter.init_app(app)
    # The decorators hold the limiter weakly: the app keeps it alive (also when it is disabled).
    app.extensions["salesync_limiter"] = limiter
    return limiter


def _value_of(settings: ServiceSettings, name: str) -> Callable[[], str]:
    if not hasattr(settings, name):
        raise AttributeError(f"rate limit setting {name!r} is not a field of the settings")
    return lambda: str(getattr(settings, name))
