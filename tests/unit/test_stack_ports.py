"""``make up`` never reports "up" for a port another process holds, and says which port."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from devstack.stack import PROCESSES, Stack, port_shift

BASE_PORT = next(s.port for s in PROCESSES if s.name == "item")


@pytest.fixture
def held_port() -> Iterator[socket.socket]:
    """A port another process (here: this one) listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def _stack_on(port: int, run_dir: Path) -> Stack:
    """A stack whose item service would listen on ``port``."""
    return Stack(run_dir=run_dir, port_offset=port - BASE_PORT - port_shift(), kafka=False)


def test_start_refuses_a_taken_port_and_names_it(held_port: socket.socket, tmp_path: Path):
    port = held_port.getsockname()[1]
    stack = _stack_on(port, tmp_path)
    assert stack.port("item") == port
    with pytest.raises(RuntimeError, match=rf"port {port} \(item\) is taken by another process"):
        stack.start_service("item")
    assert not (tmp_path / "item.pid").exists()  # nothing was started


def test_an_impostor_answering_healthz_is_not_taken_for_the_service(tmp_path: Path):
    class Impostor(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "ok", "service": "item"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        stack = _stack_on(server.server_address[1], tmp_path)
        (tmp_path / "item.log").write_text("")
        # The right answer from a process this stack did not start: not ready, never "up".
        with pytest.raises(RuntimeError, match="item exited during start"):
            stack.wait_ready("item", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
