"""Dashboard service settings (environment variables; see README "Configuration")."""

from salesync_common.ratelimit import RateLimitSettings

SCHEMA = "dashboard"


class Settings(RateLimitSettings):
    service_name: str = "dashboard"
    # Amazon SNS (settlement texts). No endpoint and no AWS credentials -> log-only mode.
    aws_region: str = "ap-northeast-1"
    sns_endpoint_url: str | None = None
    sns_timeout_seconds: float = 5.0
    sms_sender_id: str | None = None
    # Consulting results arrive on this topic (Kafka, or the in-process bus when embedded).
    consulting_results_topic: str = "consulting.results"
    consulting_results_group: str = "dashboard-consulting-results"
    # Per store: settlement texts cost money.
    settlement_rate_limit: str = "10/minute"
