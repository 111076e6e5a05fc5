"""A real local Redis from Debian's ``redis-server`` package: the rate limits' shared storage.

``python -m devstack.redis start|stop|status|url``. Installs the package if missing, runs one
server under ``var/redis`` on 127.0.0.1 (``REDIS_PORT`` or a free port, kept in its state file)
with a generated password, no persistence (rate-limit counts are short-lived by nature).
Idempotent; the distributed stack (``make up``) and ``make test`` start it like PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devstack import debian

REPO = Path(__file__).resolve().parents[1]
REDIS_DIR = REPO / "var" / "redis"
STATE = REDIS_DIR / "state.json"
PID = REDIS_DIR / "redis.pid"
LOG = REDIS_DIR / "redis.log"
CONF = REDIS_DIR / "redis.conf"


def _binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def ensure_installed() -> str:
    # The package starts a system-wide server on :6379 where systemd runs; ours is separate.
    return debian.ensure_installed("redis-server", "Redis", _binary)


def _load_state() -> dict[str, Any]:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid() -> int | None:
    try:
        pid = int(PID.read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None


def is_running() -> bool:
    return _pid() is not None and _ping(_load_state())


def _ping(state: dict[str, Any]) -> bool:
    """PING with the password: the answering server is ours (another would refuse AUTH)."""
    if not state.get("port"):
        return False
    try:
        with socket.create_connection(("127.0.0.1", state["port"]), timeout=1) as sock:
            password = state["password"]
            sock.sendall(
                f"*2\r\n$4\r\nAUTH\r\n${len(password)}\r\n{password}\r\n*1\r\n$4\r\nPING\r\n".encode()
            )
            answer = b""
            while answer.count(b"\r\n") < 2:
                chunk = sock.recv(256)
                if not chunk:
                    break
                answer += chunk
            return answer == b"+OK\r\n+PONG\r\n"
    except OSError:
        return False


def start(port: int | None = None) -> str:
    """Start (or find running) the server; returns its URL (``redis://:<password>@host:port/0``)."""
    binary = ensure_installed()
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    state = _load_state()
    if is_running():
        return url()
    port = port or int(os.environ.get("REDIS_PORT") or 0) or state.get("port") or _free_port()
    state = {"port": port, "password": state.get("password") or secrets.token_urlsafe(24)}
    STATE.write_text(json.dumps(state))
    os.chmod(STATE, 0o600)
    CONF.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {port}",
                "protected-mode yes",
                "daemonize yes",
                f"pidfile {PID}",
                f"logfile {LOG}",
                f"dir {REDIS_DIR}",
                'save ""',
                "appendonly no",
                f"requirepass {state['password']}",
                "maxmemory 64mb",
                "maxmemory-policy volatile-ttl",
                "",
            ]
        )
    )
    os.chmod(CONF, 0o600)
    started = time.monotonic()
    subprocess.run([binary, str(CONF)], check=True, capture_output=True)
    deadline = time.monotonic() + 10
    while not _ping(state):
        if time.monotonic() > deadline:
            tail = LOG.read_text(errors="replace")[-2000:] if LOG.exists() else ""
            raise RuntimeError(f"Redis did not start on 127.0.0.1:{port}:\n{tail}")
        time.sleep(0.05)
    print(f"Redis started on 127.0.0.1:{port} in {time.monotonic() - started:.1f}s")
    return url()


def stop() -> None:
    pid = _pid()
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _pid() is not None:
        time.sleep(0.05)
    PID.unlink(missing_ok=True)


def port() -> int:
    return int(_load_state()["port"])


def url(db: int = 0) -> str:
    """``RATE_LIMIT_STORAGE_URI`` for the services (``db`` separates test runs' counts)."""
    state = _load_state()
    return f"redis://:{state['password']}@127.0.0.1:{state['port']}/{db}"


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "start":
        start()
        print(f"Redis ready: 127.0.0.1:{_load_state()['port']} (data in {REDIS_DIR})")
    elif command == "stop":
        stop()
        print("Redis stopped")
    elif command == "status":
        running = is_running()
        print("running" if running else "stopped")
        return 0 if running else 1
    elif command == "url":
        print(url())
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
