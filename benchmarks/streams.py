"""Hold N open ``GET /orders/stream`` connections through the ingress and keep them reading.

Run it beside the table-cycle benchmark (``/work/shared/bench/bench.py``) on a running stack, to
compare the cycle's p99 with and without open streams::

    python -m benchmarks.streams --url http://127.0.0.1:8000 --streams 200 --seconds 120

It signs up one store per ``--per-store`` streams (its own stores: the load of the table cycle is
left as the harness makes it) or, with ``--store-ids 5-8``, watches existing stores (e.g. the
harness's, which it signs up with random credentials: the owner tokens are then signed with the
running ``make up`` stack's own secret, ``var/stack/secrets.json``), opens the streams (each a
thread parked on a socket read: the client costs almost no CPU), keeps them reading events and
heartbeats for ``--seconds``, and prints what they received: streams open, events, heartbeats,
reconnects, errors. A stream that ends (token expiry, restart) is reopened with its
``Last-Event-ID``.
"""

from __future__ import annotations

import argparse
import json
import re
import selectors
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from devstack.sse import messages, open_stream


@dataclass
class Tally:
    open: int = 0
    events: int = 0
    heartbeats: int = 0
    reconnects: int = 0
    errors: int = 0
    out_of_order: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


def sign_up(url: str) -> str:
    name = f"sse-bench-{uuid.uuid4().hex[:10]}"
    answer = requests.post(
        f"{url}/stores/",
        json={
            "username": name,
            "password": "stream-bench-password",
            "owner_name": "벤치",
            "phone": "01000000000",
            "store_name": name,
            "address": "서울",
            "store_type": "일반음식점",
        },
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["token"]["access_token"])


def stack_owner_token(store_id: int) -> str:
    """An owner token of ``store_id`` signed with the local stack's secret (``make up`` only)."""
    from devstack.stack import Stack
    from salesync_common.auth import issue_access_token
    from salesync_common.settings import ServiceSettings

    secrets = json.loads((Stack().run_dir / "secrets.json").read_text())
    settings = ServiceSettings(
        jwt_secret=secrets["JWT_SECRET"], service_token_secret=secrets["SERVICE_TOKEN_SECRET"]
    )
    return issue_access_token(settings, store_id, "Asia/Seoul")


def store_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def hold(url: str, token: str, until: float, tally: Tally, ready: threading.Barrier) -> None:
    last_id: int | None = None
    first = True
    while time.monotonic() < until:
        try:
            response = open_stream(url, token, last_event_id=last_id, read_timeout=60)
            if response.status_code != 200:
                tally.add(errors=1)
                time.sleep(1)
                continue
            tally.add(open=1)
            if first:
                first = False
                ready.wait()
            for message in messages(response):
                if message.is_event:
                    seq = int(message.id or 0)
                    if last_id is not None and seq != last_id + 1:
                        tally.add(out_of_order=1)
                    last_id = seq
                    tally.add(events=1)
                elif any(c.startswith("heartbeat") for c in message.comments):
                    tally.add(heartbeats=1)
                if time.monotonic() >= until:
                    break
            response.close()
            tally.add(open=-1, reconnects=1 if time.monotonic() < until else 0)
        except requests.RequestException:
            tally.add(errors=1)
            time.sleep(1)


_ID_LINE = re.compile(rb"(?m)^id: ?(\d+)\r?$")


def hold_lightly(url: str, tokens: list[str], streams: int, seconds: float, tally: Tally) -> None:
    """All streams on one thread: raw sockets and a selector, events counted from their ``id:``
    lines (in order per stream). The load generator's own CPU stays small beside the system's;
    streams that end are not reopened (``errors`` counts them)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    selector = selectors.DefaultSelector()
    for n in range(streams):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(
            (
                f"GET /orders/stream HTTP/1.0\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {tokens[n % len(tokens)]}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            ).encode()
        )
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, {"last": None, "head": True, "rest": b""})
        tally.add(open=1)
    until = time.monotonic() + seconds
    while time.monotonic() < until and selector.get_map():
        for key, _ in selector.select(timeout=1):
            state = key.data
            chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
            if not chunk:
                selector.unregister(key.fileobj)
                tally.add(open=-1, errors=1)
                continue
            data = state["rest"] + chunk
            cut = data.rfind(b"\n") + 1
            state["rest"], data = data[cut:], data[:cut]
            if state["head"] and b"200" not in data.split(b"\r\n", 1)[0]:
                selector.unregister(key.fileobj)
                tally.add(open=-1, errors=1)
                continue
            state["head"] = False
            for match in _ID_LINE.finditer(data):
                seq = int(match.group(1))
                if state["last"] is not None and seq != state["last"] + 1:
                    tally.add(out_of_order=1)
                state["last"] = seq
                tally.add(events=1)
            tally.add(heartbeats=data.count(b": heartbeat"))
    for key in list(selector.get_map().values()):
        key.fileobj.close()  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the ingress")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--per-store", type=int, default=10, help="streams sharing one store")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long to hold them")
    parser.add_argument(
        "--store-ids", help="watch these existing stores (e.g. 5-8) instead of new ones"
    )
    parser.add_argument(
        "--light",
        action="store_true",
        help="one thread, raw sockets: measure the system, not this client (no reconnects)",
    )
    args = parser.parse_args(argv)
    if args.store_ids:
        tokens = [stack_owner_token(store_id) for store_id in store_range(args.store_ids)]
        stores = len(tokens)
    else:
        stores = max(1, -(-args.streams // args.per_store))
        tokens = [sign_up(args.url) for _ in range(stores)]
    tally = Tally()
    if args.light:
        hold_lightly(args.url, tokens, args.streams, args.seconds, tally)
        print(
            f"streams={args.streams} stores={stores} held={args.seconds:.0f}s (light) "
            f"events={tally.events} heartbeats={tally.heartbeats} ended={tally.errors} "
            f"out_of_order={tally.out_of_order}"
        )
        return 0 if tally.out_of_order == 0 else 1
    ready = threading.Barrier(args.streams + 1)
    until = time.monotonic() + args.seconds
    threads = [
        threading.Thread(
            target=hold,
            args=(args.url, tokens[n % stores], until, tally, ready),
            daemon=True,
        )
        for n in range(args.streams)
    ]
    opened_at = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        ready.wait(timeout=60)
        print(f"{args.streams} streams open in {time.monotonic() - opened_at:.1f}s", flush=True)
    except threading.BrokenBarrierError:
        print(f"only {tally.open} of {args.streams} streams opened within 60s", flush=True)
    for thread in threads:
        thread.join(timeout=max(0.0, until - time.monotonic()) + 5)
    print(
        f"streams={args.streams} stores={stores} held={args.seconds:.0f}s "
        f"events={tally.events} heartbeats={tally.heartbeats} reconnects={tally.reconnects} "
        f"errors={tally.errors} out_of_order={tally.out_of_order}"
    )
    return 0 if tally.errors == 0 and tally.out_of_order == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
