"""order_events: one row per order write, per-store gapless seq, relayed in batches."""

from __future__ import annotations

import json
import threading

import jsonschema
from sqlalchemy import select

from devstack.testing import auth_headers, token_for
from order_service.app import events
from order_service.app.models import OrderEvent, db
from salesync_common.bus import BatchOutcome
from salesync_common.outbox import OutboxRelay
from salesync_common.settings import REPO_ROOT

SCHEMA = json.loads(
    (REPO_ROOT / "contracts" / "events" / "orders.events.v1.schema.json").read_text()
)


def h(sid: int) -> dict[str, str]:
    return auth_headers(token_for(sid))


def store_events(stack, sid: int) -> list[OrderEvent]:
    with stack.order_app.app_context():
        rows = list(
            db.session.scalars(
                select(OrderEvent).where(OrderEvent.store_id == sid).order_by(OrderEvent.seq)
            )
        )
        db.session.commit()
        return rows


def test_every_write_records_its_event_with_a_gapless_seq(stack):
    sid = 91
    item = stack.menu(sid, {"국밥": 9000})["국밥"]
    barrier = threading.Barrier(8)
    statuses = []

    def write(table_no: int) -> None:
        client = stack.order_app.test_client()
        barrier.wait()
        cart = [{"item_id": item, "quantity": 1}]
        statuses.append(
            client.post("/orders/", json={"table_no": table_no, "carts": cart}, headers=h(sid))
        )
        statuses.append(
            client.post("/orders/", json={"table_no": table_no, "carts": cart}, headers=h(sid))
        )

    threads = [threading.Thread(target=write, args=(n % 4 + 1,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.status_code == 200 for r in statuses)
    client = stack.order_app.test_client()
    assert (
        client.put(
            "/orders/",
            json={"table_no": 1, "carts": [{"item_id": item, "quantity": 2}]},
            headers=h(sid),
        ).status_code
        == 200
    )
    assert (
        client.put("/orders/", json={"table_no": 2, "carts": []}, headers=h(sid)).json["result"]
        == "cancelled"
    )
    assert client.delete("/orders/3", headers=h(sid)).status_code == 200
    rows = store_events(stack, sid)
    assert [row.seq for row in rows] == list(range(1, len(rows) + 1))  # gapless, per store
    kinds = [row.type for row in rows]
    assert kinds.count("opened") == 4 and kinds.count("lines_changed") == 16 + 1
    assert kinds.count("cancelled") == 2
    for row in rows:
        jsonschema.validate(
            events.event_value(row), SCHEMA, format_checker=jsonschema.FormatChecker()
        )
    # another store numbers its own events from 1
    other = stack.menu(sid + 1, {"라멘": 1})["라멘"]
    client.post(
        "/orders/",
        json={"table_no": 1, "carts": [{"item_id": other, "quantity": 1}]},
        headers=h(sid + 1),
    )
    assert [row.seq for row in store_events(stack, sid + 1)] == [1, 2]


class Recorder:
    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list = []
        self.batches = 0
        self.fail_after = fail_after

    def publish(self, topic, key, value, headers=None) -> None:  # pragma: no cover - unused
        raise AssertionError("the relay publishes in batches")

    def publish_many(self, batch) -> BatchOutcome:
        self.batches += 1
        if self.fail_after is not None:
            self.sent.extend(batch[: self.fail_after])
            return BatchOutcome(self.fail_after, RuntimeError("broker went away"))
        self.sent.extend(batch)
        return BatchOutcome(len(batch))


def test_the_relay_publishes_order_events_in_batches_in_seq_order(stack):
    sid = 93
    item = stack.menu(sid, {"떡": 500})["떡"]
    client = stack.order_app.test_client()
    for table in range(1, 6):
        client.post(
            "/orders/",
            json={"table_no": table, "carts": [{"item_id": item, "quantity": 1}]},
            headers=h(sid),
        )
    with stack.order_app.app_context():
        engine = db.engine
    # a failure after two records marks exactly those two published; the rest go next time
    failing = Recorder(fail_after=2)
    relay = OutboxRelay(lambda: engine, events.source("orders.events"), failing, batch_size=1000)
    try:
        relay.run_once()
        raise AssertionError("the failure must surface")
    except RuntimeError:
        pass
    recorder = Recorder()
    relay = OutboxRelay(lambda: engine, events.source("orders.events"), recorder, batch_size=1000)
    while relay.run_once():
        pass
    mine = [e for e in failing.sent + recorder.sent if e.key == str(sid)]
    assert [e.value["seq"] for e in mine] == list(range(1, 11))
    assert all(
        e.topic == "orders.events" and e.headers["event_id"] == e.value["event_id"] for e in mine
    )
    assert all(row.published_at is not None for row in store_events(stack, sid))
