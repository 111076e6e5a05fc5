"""Consulting service settings (environment variables; see README "Configuration")."""

from salesync_common.ratelimit import RateLimitSettings

SCHEMA = "consulting"


class Settings(RateLimitSettings):
    service_name: str = "consulting"
    # OpenAI (official SDK). No key -> the built-in rule-based analyst answers offline.
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_seconds: float = 30.0
    openai_max_retries: int = 2
    openai_max_tokens: int = 1200
    # Results go out through the outbox on this topic (Kafka, or the in-process bus embedded).
    consulting_results_topic: str = "consulting.results"
    # Background work: a bounded pool, plus a sweep that finishes requests left pending
    # (e.g. by a crash) once their lease expired.
    worker_threads: int = 2
    lease_seconds: float = 180.0
    sweep_interval_seconds: float = 15.0
    max_attempts: int = 3
    # Per-store limit on new consulting requests (each may be a paid model call).
    consulting_rate_limit: str = "10/hour"
