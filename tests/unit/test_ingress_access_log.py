"""Reading nginx's access log after a request: the line is written after the answer is sent."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from devstack.nginx import Ingress

REQUEST_ID = "0123456789abcdef0123456789abcdef"


def _ingress(tmp_path: Path) -> Ingress:
    ingress = Ingress(tmp_path / "nginx", 0, {})
    ingress.log_dir.mkdir(parents=True)
    return ingress


def test_waits_for_a_line_written_after_the_answer(tmp_path: Path) -> None:
    ingress = _ingress(tmp_path)
    log = ingress.access_log("store")
    log.write_text('127.0.0.1 "GET /stores/check" 200 older\n')

    def nginx_log_phase() -> None:
        time.sleep(0.2)
        with log.open("a") as out:
            out.write('127.0.0.1 "GET /stores/check" 200 ')  # half a line: not yet
            out.flush()
            time.sleep(0.2)
            out.write(f"{REQUEST_ID}\n")

    writer = threading.Thread(target=nginx_log_phase)
    writer.start()
    try:
        line = ingress.wait_for_access_line("store", REQUEST_ID, timeout=5)
    finally:
        writer.join()
    assert line == f'127.0.0.1 "GET /stores/check" 200 {REQUEST_ID}'


def test_gives_up_at_the_deadline(tmp_path: Path) -> None:
    ingress = _ingress(tmp_path)
    ingress.access_log("store").write_text(f"a line without the id {REQUEST_ID[:-1]}\n")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="no line ending with"):
        ingress.wait_for_access_line("store", REQUEST_ID, timeout=0.3)
    assert time.monotonic() - started < 2
