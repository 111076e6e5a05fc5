"""Settlement texts through boto3 against moto in server mode (a real HTTP SNS endpoint)."""

from __future__ import annotations

import logging
from datetime import date

import pytest
import requests
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from dashboard_service.app.models import Settlement, db
from dashboard_service.app.services import DayFigures, settlement_text
from dashboard_service.app.sms import mask_phone, to_e164
from devstack.testing import auth_headers, token_for

from .fakes import FakeUpstream

STORE = 4201
LOG_ONLY_STORE = 4202
FIRST_TEXT = (
    "[Salesync] 맛있는 가게 2026-11-23 매출 합계 1,234,000원 (결제 12건)\n"
    "순매출 1,234,000원 / 부가세 112,182원\n"
    "카드 1,000,000원 / 현금 234,000원"
)


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def upstream(serve):
    fake = FakeUpstream()
    for sid, phone in ((STORE, "010-1234-5678"), (LOG_ONLY_STORE, "01099998888")):
        fake.stores[sid] = {
            "store_id": sid,
            "phone": phone,
            "store_name": "맛있는 가게",
            "time_zone": "Asia/Seoul",
        }
        fake.daily[sid] = [
            {
                "date": "2026-11-23",
                "sales_volume": 1234000,
                "payments": 12,
                "refunded": 0,
                "vat": 112182,
            }
        ]
        fake.by_payment_type[sid] = [
            {"payment_type": "card", "sales_volume": 1000000, "payments": 9},
            {"payment_type": "cash", "sales_volume": 234000, "payments": 3},
        ]
    fake.url = serve(fake.app()).url
    return fake


def urls(fake):
    return {f"{name}_service_url": fake.url for name in ("store", "item", "order", "sale")}


def sms_messages(moto_url):
    # The threaded moto server shares this process: read what SNS "sent" from its backend.
    from moto.sns.models import sns_backends

    assert requests.get(f"{moto_url}/moto-api/data.json", timeout=5).ok  # the server is real
    return list(sns_backends["123456789012"]["ap-northeast-1"].sms_messages.values())


def test_phone_and_text_helpers():
    assert to_e164("01012345678") == "+821012345678"
    assert to_e164("010-1234-5678") == "+821012345678"
    assert to_e164("+14155550100") == "+14155550100"
    assert mask_phone("+821012345678") == "+8210****5678"
    figures = DayFigures(sales_volume=1234000, payments=12, vat=112182, card=1000000, cash=234000)
    assert settlement_text("맛있는 가게", date(2026, 11, 23), figures) == (
        "[Salesync] 맛있는 가게 2026-11-23 매출 합계 1,234,000원 (결제 12건)\n"
        "순매출 1,234,000원 / 부가세 112,182원\n"
        "카드 1,000,000원 / 현금 234,000원"
    )
    with_shifts = DayFigures(
        sales_volume=0, payments=0, other=5000, cash_differences=((3, -1000), (4, 500))
    )
    assert settlement_text("가게", date(2026, 11, 23), with_shifts).split("\n")[2:] == [
        "카드 0원 / 현금 0원 / 기타 5,000원",
        "시재 차액(교대 3) -1,000원",
        "시재 차액(교대 4) +500원",
    ]
    one_shift = DayFigures(sales_volume=0, payments=0, cash_differences=((3, 0),))
    assert settlement_text("가게", date(2026, 11, 23), one_shift).endswith("\n시재 차액 0원")


def test_settlement_sends_once_per_figures(service_app, upstream, moto_url, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    app = service_app(
        "dashboard_service",
        sns_endpoint_url=moto_url,
        aws_region="ap-northeast-1",
        settlement_rate_limit="6/minute",
        **urls(upstream),
    )
    client = app.test_client()
    before = len(sms_messages(moto_url))
    path = "/dashboard/calculate?date=2026-11-23"
    first = client.get(path, headers=auth_headers(token_for(STORE)))
    assert first.status_code == 200, first.json
    assert first.json == {
        "result": "success",
        "message": "정산 완료: 메시지 전송 완료",
        "already_sent": False,
    }
    sent = sms_messages(moto_url)[before:]
    assert sent == [("+821012345678", FIRST_TEXT)]  # the sale service has no shifts: no line

    again = client.get(path, headers=auth_headers(token_for(STORE)))
    assert again.json["already_sent"] is True
    assert len(sms_messages(moto_url)) == before + 1  # unchanged figures: no second text

    upstream.daily[STORE][0].update(sales_volume=1240000, payments=13, vat=112727)
    upstream.by_payment_type[STORE][1]["sales_volume"] = 240000
    changed = client.get(path, headers=auth_headers(token_for(STORE)))
    assert changed.json["already_sent"] is False
    assert sms_messages(moto_url)[-1] == (
        "+821012345678",
        "[Salesync] 맛있는 가게 2026-11-23 매출 합계 1,240,000원 (결제 13건)\n"
        "순매출 1,240,000원 / 부가세 112,727원\n"
        "카드 1,000,000원 / 현금 240,000원",
    )
    # a shift closed that day (open ones say nothing): same totals, a new figure, a new text
    upstream.shifts[STORE] = {
        "2026-11-23": [
            {
                "shift_id": 5,
                "status": "closed",
                "opened_at": "2026-11-23T09:00:00+09:00",
                "closed_at": "2026-11-23T22:00:00+09:00",
                "expected_cash": 290000,
                "counted_cash": 289000,
                "difference": -1000,
            },
            {
                "shift_id": 6,
                "status": "open",
                "opened_at": "2026-11-23T22:10:00+09:00",
                "closed_at": None,
                "expected_cash": 50000,
                "counted_cash": None,
                "difference": None,
            },
        ]
    }
    with_shift = client.get(path, headers=auth_headers(token_for(STORE)))
    assert with_shift.json["already_sent"] is False
    assert sms_messages(moto_url)[-1][1].endswith("\n시재 차액 -1,000원")
    assert client.get(path, headers=auth_headers(token_for(STORE))).json["already_sent"] is True
    with app.app_context():
        rows = db.session.scalars(select(Settlement).where(Settlement.store_id == STORE)).all()
        assert len(rows) == 1
        assert (rows[0].sales_volume, rows[0].payments) == (1240000, 13)
        assert rows[0].message_id and rows[0].sent_at is not None

    bad = client.get("/dashboard/calculate?date=2026-02-30", headers=auth_headers(token_for(STORE)))
    assert bad.status_code == 400
    limited = client.get(path, headers=auth_headers(token_for(STORE)))
    assert limited.status_code == 429 and limited.json["result"] == "failed"
    assert len(sms_messages(moto_url)) == before + 3


def test_settlement_without_aws_is_log_only(service_app, upstream, monkeypatch, caplog):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    app = service_app("dashboard_service", rate_limits_enabled=False, **urls(upstream))
    caplog.set_level(logging.INFO, logger="dashboard_service.app.sms")
    response = app.test_client().get(
        "/dashboard/calculate?date=2026-11-23", headers=auth_headers(token_for(LOG_ONLY_STORE))
    )
    assert response.status_code == 200 and response.json["already_sent"] is False
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "log-only" in logged
    assert "+821099998888" not in logged and "01099998888" not in logged  # number masked
    assert "1,234,000원" in logged  # the text itself is what the embedded mode shows
    with app.app_context():
        row = db.session.scalar(select(Settlement).where(Settlement.store_id == LOG_ONLY_STORE))
        assert row.message_id.startswith("log-only-")
