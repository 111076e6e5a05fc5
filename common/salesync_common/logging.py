"""JSON logs, one object per line on stdout, with request id and store id; never bodies or PII."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from salesync_common.context import request_id_var, service_var, store_id_var


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        # In the embedded mode several services share one process: the request's service wins.
        record.service = service_var.get() or self.service
        record.request_id = request_id_var.get()
        record.store_id = store_id_var.get()
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root logger to stdout as JSON. Safe to call more than once."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_salesync", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stdout)
        handler._salesync = True  # type: ignore[attr-defined]
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
                json_ensure_ascii=False,
            )
        )
        handler.addFilter(_ContextFilter(service))
        root.addHandler(handler)
    root.setLevel(level.upper())
    # Library chatter (kafka, urllib3) stays at WARNING unless asked for.
    for noisy in ("kafka", "urllib3", "botocore", "werkzeug", "httpx", "openai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
