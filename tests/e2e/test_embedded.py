"""`make run`: the embedded mode serves the whole journey on one process (SQLite, in-process
events, offline analyst, settlement texts in the log)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.stack import REPO, port_shift

from .conftest import Frontend
from .test_journey import walk_journey

pytestmark = pytest.mark.e2e

PORT_OFFSET = 3000
TEXT_LINE = re.compile(r"settlement SMS \(log-only[^)]*\) to (\S+): (.*?)\"")


def make_run(data: Path) -> list[str]:
    """``make run`` on this module's ports, its SQLite files in ``data``."""
    return [
        *(sys.executable, "-m", "devstack.embedded"),
        *("--port-offset", str(PORT_OFFSET), "--data-dir", str(data)),
    ]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("embedded")
    log = data / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            make_run(data),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{8000 + PORT_OFFSET + port_shift()}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("embedded mode did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.3)
        yield url, log
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_journey_on_make_run(embedded: tuple[str, Path]) -> None:
    url, log = embedded

    def texts_in_log() -> list[tuple[str, str]]:
        found = TEXT_LINE.findall(log.read_text(encoding="utf-8", errors="replace"))
        # the log is JSON: the text's line breaks are escaped in it
        return [(phone, json.loads(f'"{text}"')) for phone, text in found]

    walk_journey(Frontend(url), texts_in_log, expected_phone="+8210****5678")


def test_docs_work_offline(embedded: tuple[str, Path]) -> None:
    url, _ = embedded
    docs = requests.get(f"{url}/docs", timeout=10)
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
    assert requests.get(f"{url}/docs/static/swagger-ui-bundle.js", timeout=10).status_code == 200
    document = requests.get(f"{url}/openapi.json", timeout=10).json()
    assert "/orders/unpaids/{table_no}" in document["paths"]


def test_stream_on_make_run(embedded: tuple[str, Path]) -> None:
    """The dispatcher serves the stream in process, and other requests go on meanwhile."""
    from .streams import walk_stream

    url, _ = embedded
    walk_stream(url, Frontend(url))


def test_each_service_logs_its_migrations_under_its_own_name(embedded: tuple[str, Path]) -> None:
    _, log = embedded
    migrations = [
        json.loads(line)
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
        if line.startswith("{") and '"Running upgrade' in line
    ]
    assert {entry["service"] for entry in migrations} == {
        "store",
        "item",
        "order",
        "sale",
        "dashboard",
        "consulting",
    }
    # Every service's first revision is logged under that service (not all under "store").
    first = {entry["service"] for entry in migrations if "-> 0001" in entry["message"]}
    assert len(first) == 6


def test_a_second_make_run_on_the_same_port_is_refused(
    embedded: tuple[str, Path], tmp_path: Path
) -> None:
    url, _ = embedded
    done = subprocess.run(
        make_run(tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    port = url.rsplit(":", 1)[1]
    assert done.returncode != 0
    assert f"port {port} (make run) is taken by another process" in done.stderr
    assert requests.get(f"{url}/healthz", timeout=5).ok  # the first one still answers
