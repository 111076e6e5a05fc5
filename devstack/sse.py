"""A small Server-Sent Events reader over ``requests`` (tests and ``benchmarks.streams``).

It parses the wire format itself (``id:``/``event:``/``data:`` fields, ``:`` comments, a blank
line ending an event), so a test sees exactly what a browser's ``EventSource`` would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class SseMessage:
    """One event (``event`` set) or one comment block (``comments`` only, e.g. a heartbeat)."""

    id: str | None = None
    event: str | None = None
    data_lines: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def data(self) -> Any:
        return json.loads("\n".join(self.data_lines)) if self.data_lines else None

    @property
    def is_event(self) -> bool:
        return bool(self.data_lines)


def open_stream(
    url: str,
    token: str,
    *,
    last_event_id: int | None = None,
    read_timeout: float = 30.0,
    session: requests.Session | None = None,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    client = session or requests
    return client.get(
        f"{url}/orders/stream", headers=headers, stream=True, timeout=(5, read_timeout)
    )


def messages(response: requests.Response) -> Iterator[SseMessage]:
    """Every message of the stream as it arrives, until the server ends it."""
    current = SseMessage()
    for raw in response.iter_lines(chunk_size=1, decode_unicode=True):
        line = raw if isinstance(raw, str) else raw.decode()
        if line == "":
            if current.data_lines or current.comments:
                yield current
            current = SseMessage()
            continue
        if line.startswith(":"):
            current.comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            current.id = value
        elif name == "event":
            current.event = value
        elif name == "data":
            current.data_lines.append(value)


def take_events(stream: Iterator[SseMessage], count: int) -> list[SseMessage]:
    """The next ``count`` events (comments skipped)."""
    found: list[SseMessage] = []
    for message in stream:
        if message.is_event:
            found.append(message)
            if len(found) == count:
                break
    return found
