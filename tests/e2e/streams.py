"""The live table status walked through a public entry: shared by the stack and make-run tests."""

from __future__ import annotations

import uuid

from devstack.sse import messages, open_stream, take_events

from .conftest import Frontend


def signed_up_store(frontend: Frontend) -> int:
    """A new store with one menu item, signed in on ``frontend``; returns the item id."""
    name = f"sse-{uuid.uuid4().hex[:10]}"
    created = frontend.post(
        "/stores/",
        {
            "username": name,
            "password": "stream-password",
            "owner_name": "스트림",
            "phone": "01000000000",
            "store_name": f"{name} 가게",
            "address": "서울",
            "store_type": "일반음식점",
        },
    )
    assert created.status_code == 201, created.text
    frontend.token = created.json()["token"]["access_token"]
    category = frontend.post("/categories/", {"name": "기본"}).json()["id"]
    item = frontend.post(f"/categories/{category}/items", {"name": "국밥", "price": "9000"})
    assert item.status_code == 201, item.text
    return int(item.json()["id"])


def order(frontend: Frontend, table_no: int, item: int) -> None:
    answer = frontend.post(
        "/orders/", {"table_no": table_no, "carts": [{"item_id": item, "quantity": 1}]}
    )
    assert answer.status_code == 200, answer.text


def walk_stream(url: str, frontend: Frontend) -> None:
    """Open, change, read in order; disconnect, change, resume: each event exactly once."""
    item = signed_up_store(frontend)
    assert frontend.token is not None
    response = open_stream(url, frontend.token)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    reader = messages(response)
    next(reader)  # connected
    order(frontend, 1, item)  # seq 1 opened, 2 lines_changed
    order(frontend, 2, item)  # seq 3, 4
    got = take_events(reader, 4)
    response.close()
    assert [(int(m.id or 0), m.event) for m in got] == [
        (1, "opened"),
        (2, "updated"),
        (3, "opened"),
        (4, "updated"),
    ]
    assert [m.data["table_no"] for m in got] == [1, 1, 2, 2]
    # Disconnected: two changes happen, the client resumes from its last id.
    order(frontend, 1, item)  # seq 5
    assert frontend.delete("/orders/2").status_code == 200  # seq 6 cancelled
    resumed = open_stream(url, frontend.token, last_event_id=4)
    reader = messages(resumed)
    replayed = take_events(reader, 2)
    order(frontend, 3, item)  # seq 7, 8 live
    live = take_events(reader, 2)
    resumed.close()
    assert [int(m.id or 0) for m in replayed + live] == [5, 6, 7, 8]
    assert [m.event for m in replayed + live] == ["updated", "cancelled", "opened", "updated"]
