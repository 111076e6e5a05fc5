"""BFF settings (environment variables; see README "Configuration")."""

from salesync_common.settings import ServiceSettings

SCHEMA = None  # the BFF keeps no data


class Settings(ServiceSettings):
    uses_database = False
    service_name: str = "bff"
    http_timeout_seconds: float = 10.0
    # The services' OpenAPI documents are fetched at most this often for the merged document.
    openapi_cache_seconds: float = 300.0
