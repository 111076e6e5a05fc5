"""GET /orders/stream through nginx on the distributed stack (its own gunicorn process)."""

from __future__ import annotations

import time

import pytest
import requests

from devstack.sse import messages, open_stream, take_events

from .conftest import Frontend
from .streams import order, signed_up_store, walk_stream

pytestmark = pytest.mark.e2e


def test_delivery_and_resume_through_nginx(stack) -> None:
    walk_stream(stack.url(), Frontend(stack.url()))


def test_heartbeats_and_isolation_through_nginx(stack) -> None:
    watcher, other = Frontend(stack.url()), Frontend(stack.url())
    signed_up_store(watcher)
    other_item = signed_up_store(other)
    assert watcher.token is not None
    response = open_stream(stack.url(), watcher.token)
    reader = messages(response)
    order(other, 1, other_item)  # another store's change: never on this stream
    started = time.monotonic()
    beats = 0
    for message in reader:
        assert not message.is_event, message
        beats += sum(c.startswith("heartbeat") for c in message.comments)
        if beats == 2:
            break
    response.close()
    assert time.monotonic() - started < 10  # unbuffered: nginx passes each comment at once
    bad = requests.get(
        f"{stack.url()}/orders/stream", headers={"Authorization": "Bearer nope"}, timeout=10
    )
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "invalid_token"


def test_restart_of_the_stream_process_loses_nothing(stack) -> None:
    frontend = Frontend(stack.url())
    item = signed_up_store(frontend)
    assert frontend.token is not None
    response = open_stream(stack.url(), frontend.token)
    reader = messages(response)
    next(reader)
    order(frontend, 1, item)  # seq 1, 2
    seen = [int(m.id or 0) for m in take_events(reader, 2)]
    stack.stop_service("order-stream")  # mid-stream: the server ends it
    for _ in reader:
        pass
    response.close()
    order(frontend, 2, item)  # seq 3, 4 while the stream process is down
    stack.start_service("order-stream")
    resumed = open_stream(stack.url(), frontend.token, last_event_id=seen[-1])
    reader = messages(resumed)
    seen += [int(m.id or 0) for m in take_events(reader, 2)]
    order(frontend, 3, item)  # seq 5, 6
    seen += [int(m.id or 0) for m in take_events(reader, 2)]
    resumed.close()
    assert seen == [1, 2, 3, 4, 5, 6]
