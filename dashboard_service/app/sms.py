"""Settlement texts through Amazon SNS (boto3), or the log when no AWS configuration exists."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import boto3
import phonenumbers
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from salesync_common.errors import ApiError, UpstreamError

from ..config import Settings

log = logging.getLogger(__name__)


def to_e164(phone: str, region: str = "KR") -> str:
    """``01012345678`` -> ``+821012345678``; numbers with a ``+`` keep their own country."""
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException as exc:
        raise ApiError(
            "매장 전화번호가 올바르지 않습니다.", status=422, code="invalid_phone"
        ) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise ApiError("매장 전화번호가 올바르지 않습니다.", status=422, code="invalid_phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(e164: str) -> str:
    """Logs never carry the full number: ``+8210****5678``."""
    return e164[:5] + "*" * max(len(e164) - 9, 0) + e164[-4:]


class SmsSender:
    """One boto3 SNS client per process (created lazily; boto3 clients are thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Any = None
        self._lock = threading.Lock()
        self._session = boto3.session.Session()

    @property
    def log_only(self) -> bool:
        # Embedded/dev mode: nowhere to send, so the "text" goes to the log instead.
        return not self._settings.sns_endpoint_url and self._session.get_credentials() is None

    def _sns(self) -> Any:
        with self._lock:
            if self._client is None:
                timeout = self._settings.sns_timeout_seconds
                self._client = self._session.client(
                    "sns",
                    region_name=self._settings.aws_region,
                    endpoint_url=self._settings.sns_endpoint_url or None,
                    config=Config(
                        connect_timeout=timeout,
                        read_timeout=timeout,
                        retries={"max_attempts": 2, "mode": "standard"},
                    ),
                )
            return self._client

    def send(self, phone_e164: str, text: str) -> str:
        """Send ``text``; returns the SNS message id (or a log-only id)."""
        if self.log_only:
            message_id = f"log-only-{uuid.uuid4()}"
            # The embedded mode's "text message": the figures are the store's, not personal data;
            # the number is masked so no PII reaches the log.
            log.info(
                "settlement SMS (log-only, no AWS configuration) to %s: %s",
                mask_phone(phone_e164),
                text,
            )
            return message_id
        attributes: dict[str, Any] = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
        }
        if self._settings.sms_sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {
                "DataType": "String",
                "StringValue": self._settings.sms_sender_id,
            }
        try:
            answer = self._sns().publish(
                PhoneNumber=phone_e164, Message=text, MessageAttributes=attributes
            )
        except (BotoCoreError, ClientError) as exc:
            log.warning("SNS publish to %s failed: %s", mask_phone(phone_e164), type(exc).__name__)
            raise UpstreamError(
                "문자 발송 서비스를 사용할 수 없습니다.",
                status=502,
                code="sms_failed",
                extra={"dependency": "sns"},
            ) from exc
        log.info("settlement SMS sent to %s", mask_phone(phone_e164))
        return str(answer.get("MessageId", ""))
