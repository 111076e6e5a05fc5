"""GET /orders/stream: the store's order_events as SSE, read by a real HTTP client.

The stream app (``create_stream_app``, as ``app.sh stream`` serves it) runs on its own port over
the test database; order changes go through the order API app, as two processes would.
"""

from __future__ import annotations

import threading
import time

import jwt
import pytest
import requests

from devstack.sse import messages, open_stream, take_events
from devstack.testing import (
    TEST_SECRETS,
    auth_headers,
    make_settings,
    staff_token_for,
    token_for,
)
from order_service.app import stream
from salesync_common.auth import ALGORITHM, _user_claims
from salesync_common.settings import ServiceSettings

HEARTBEAT = 0.4


@pytest.fixture(scope="module")
def stream_url(pg, serve) -> str:
    from order_service.app import create_stream_app
    from salesync_common.migrate import upgrade

    settings = make_settings(
        "order_service", pg, stream_heartbeat_seconds=HEARTBEAT, stream_poll_seconds=0.05
    )
    upgrade("order_service", settings, "order")
    app = create_stream_app(settings)
    return serve(app).url


def _order(stack, sid: int, table_no: int, item: int, quantity: int = 1) -> None:
    answer = stack.order_app.test_client().post(
        "/orders/",
        json={"table_no": table_no, "carts": [{"item_id": item, "quantity": quantity}]},
        headers=auth_headers(token_for(sid)),
    )
    assert answer.status_code == 200, answer.json


def _cancel(stack, sid: int, table_no: int) -> None:
    answer = stack.order_app.test_client().delete(
        f"/orders/{table_no}", headers=auth_headers(token_for(sid))
    )
    assert answer.status_code == 200, answer.json


def _token_expiring_in(sid: int, seconds: int) -> str:
    settings = ServiceSettings(
        jwt_secret=TEST_SECRETS["JWT_SECRET"],
        service_token_secret=TEST_SECRETS["SERVICE_TOKEN_SECRET"],
    )
    claims = _user_claims(settings, sid, "Asia/Seoul", seconds)
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def test_events_arrive_in_order_with_the_mapped_names(stack, stream_url):
    sid = 7101
    item = stack.menu(sid, {"국밥": 9000})["국밥"]
    response = open_stream(stream_url, token_for(sid))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    reader = messages(response)
    first = next(reader)  # the connected comment: the subscription is in place
    assert not first.is_event
    _order(stack, sid, 1, item)  # opened + lines_changed
    _order(stack, sid, 1, item, 2)  # lines_changed
    _cancel(stack, sid, 1)
    got = take_events(reader, 4)
    response.close()
    assert [m.event for m in got] == ["opened", "updated", "updated", "cancelled"]
    assert [int(m.id) for m in got] == [1, 2, 3, 4]  # type: ignore[arg-type]
    data = [m.data for m in got]
    assert [d["seq"] for d in data] == [1, 2, 3, 4]
    assert [d["type"] for d in data] == ["opened", "lines_changed", "lines_changed", "cancelled"]
    assert {d["table_no"] for d in data} == {1}
    assert len({d["order_id"] for d in data}) == 1
    assert all(d["staff_id"] is None and d["at"].endswith("+00:00") for d in data)
    assert data[2]["lines"][0]["quantity"] == 3  # what changed rides along (1 + 2)


def test_resume_with_last_event_id_replays_once_then_goes_live(stack, stream_url):
    sid = 7102
    item = stack.menu(sid, {"냉면": 11000})["냉면"]
    _order(stack, sid, 1, item)  # seq 1, 2
    _order(stack, sid, 2, item)  # seq 3, 4
    # Disconnected after seq 2; seq 3 and 4 happened meanwhile; the header wins over the query.
    response = requests.get(
        f"{stream_url}/orders/stream?last_event_id=0",
        headers={"Authorization": f"Bearer {token_for(sid)}", "Last-Event-ID": "2"},
        stream=True,
        timeout=(5, 30),
    )
    assert response.status_code == 200, response.text
    reader = messages(response)
    replayed = take_events(reader, 2)
    _cancel(stack, sid, 2)  # seq 5, live
    live = take_events(reader, 1)
    response.close()
    assert [int(m.id) for m in replayed + live] == [3, 4, 5]  # type: ignore[arg-type]
    assert live[0].event == "cancelled"
    # The query parameter works alone too.
    again = requests.get(
        f"{stream_url}/orders/stream?last_event_id=4",
        headers={"Authorization": f"Bearer {token_for(sid)}"},
        stream=True,
        timeout=(5, 30),
    )
    assert [int(m.id) for m in take_events(messages(again), 1)] == [5]  # type: ignore[arg-type]
    again.close()


def test_concurrent_writers_reach_every_stream_once_in_seq_order(stack, stream_url):
    sid = 7103
    item = stack.menu(sid, {"만두": 5000})["만두"]
    streams = [open_stream(stream_url, token_for(sid)) for _ in range(3)]
    readers = [messages(s) for s in streams]
    for reader in readers:
        next(reader)
    writers = [
        threading.Thread(target=_order, args=(stack, sid, table_no, item))
        for table_no in range(1, 7)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    for response, reader in zip(streams, readers, strict=True):
        ids = [int(m.id) for m in take_events(reader, 12)]  # type: ignore[arg-type]
        response.close()
        assert ids == list(range(1, 13))


def test_heartbeats_while_idle(stack, stream_url):
    response = open_stream(stream_url, token_for(7104))
    reader = messages(response)
    started = time.monotonic()
    beats = []
    for message in reader:
        if any(c.startswith("heartbeat") for c in message.comments):
            beats.append(time.monotonic() - started)
            if len(beats) == 3:
                break
    response.close()
    assert beats[-1] >= 2 * HEARTBEAT


def test_another_stores_events_never_arrive_and_staff_tokens_work(stack, stream_url):
    mine, other = 7105, 7106
    item_mine = stack.menu(mine, {"김밥": 3000})["김밥"]
    item_other = stack.menu(other, {"라면": 4000})["라면"]
    response = open_stream(stream_url, staff_token_for(mine, "cashier", staff_id=5))
    assert response.status_code == 200
    reader = messages(response)
    next(reader)
    _order(stack, other, 1, item_other)
    _order(stack, mine, 3, item_mine)
    got = take_events(reader, 2)
    response.close()
    assert [m.data["table_no"] for m in got] == [3, 3]
    assert {m.data["order_id"] for m in got} != set()


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Bearer not-a-token"}, "invalid_token"),
        ({"Authorization": f"Bearer {_token_expiring_in(7107, -60)}"}, "token_expired"),
    ],
)
def test_bad_or_expired_tokens_get_401(stream_url, headers, code):
    answer = requests.get(f"{stream_url}/orders/stream", headers=headers, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == code


def test_a_bad_last_event_id_is_422(stream_url):
    answer = requests.get(
        f"{stream_url}/orders/stream",
        headers={"Authorization": f"Bearer {token_for(7108)}", "Last-Event-ID": "abc"},
        timeout=10,
    )
    assert answer.status_code == 422
    assert "Last-Event-ID" in answer.json()["error"]["fields"]


def test_the_stream_ends_when_its_token_expires(stream_url):
    # timed from the token's making (its exp is whole seconds: 1-2 s of life), not from the
    # stream's opening, which a busy machine may take most of that second to answer
    started = time.monotonic()
    response = open_stream(stream_url, _token_expiring_in(7109, 2))
    for _ in messages(response):
        pass  # heartbeats, until the server ends the stream
    assert 1.0 <= time.monotonic() - started < 10


def test_unknown_future_types_flow_as_updated():
    assert stream.event_name("discount_added") == "updated"
    assert stream.event_name("some_future_change") == "updated"
    assert stream.event_name("transferred") == "transferred"
    assert stream.event_name("paid") == "paid"


def test_the_tail_reads_many_stores_in_batches_and_hands_each_its_own_in_order(stack, monkeypatch):
    """Stores split over several statements, more than a batch waiting: every event once, in
    order, to its own store's stream (run_once says when a store has more waiting)."""
    from order_service.app.models import db

    monkeypatch.setattr(stream, "STORES_PER_QUERY", 2)
    monkeypatch.setattr(stream, "BATCH_SIZE", 2)
    stores = [7111, 7112, 7113]
    items = {sid: stack.menu(sid, {"떡국": 8000})["떡국"] for sid in stores}
    with stack.order_app.app_context():
        tail = stream.EventTail(db.engine, 60.0, threading.Event())
        monkeypatch.setattr(tail, "_ensure_running", lambda: None)  # ticks driven here
        subscriptions = {sid: tail.subscribe(sid, None)[0] for sid in stores}
        for n, sid in enumerate(stores):
            for table_no in range(1, n + 2):  # 2, 4, 6 events: opened + lines_changed a table
                _order(stack, sid, table_no, items[sid])
        ticks = [tail.run_once() for _ in range(4)]
    # two statements a tick (2 stores, then 1); the last store's 6 events take three full
    # batches, so only the fourth tick finds nothing more waiting
    assert ticks == [True, True, True, False]
    for n, sid in enumerate(stores):
        received = subscriptions[sid].take(0)
        assert [event.seq for event in received] == list(range(1, 2 * (n + 1) + 1))
        assert {event.store_id for event in received} == {sid}
