"""The distributed local stack: PostgreSQL + a real Kafka broker + one gunicorn per service.

``python -m devstack.stack up|down|status`` (``make up`` / ``make down``). End-to-end tests and
benchmarks use :class:`Stack` directly. Every service runs as its own gunicorn process with its own
database role and schema, exactly as in production; the BFF listens on 127.0.0.1:8000 by default.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from devstack import kafka, postgres

REPO = Path(__file__).resolve().parents[1]


def port_shift() -> int:
    """``SALESYNC_PORT_SHIFT``: added to every fixed port, so two checkouts can run side by side."""
    return int(os.environ.get("SALESYNC_PORT_SHIFT") or 0)


@dataclass(frozen=True)
class Service:
    name: str
    package: str
    port: int
    schema: str | None


SERVICES: tuple[Service, ...] = (
    Service("store", "store_service", 8101, "store"),
    Service("item", "item_service", 8102, "item"),
    Service("order", "order_service", 8103, "order"),
    Service("sale", "sale_service", 8104, "sale"),
    Service("dashboard", "dashboard_service", 8105, "dashboard"),
    Service("consulting", "consulting_service", 8106, "consulting"),
    Service("bff", "bff", 8000, None),
)


@dataclass
class Stack:
    """A running distributed stack; ``port_offset`` lets tests run beside ``make up``."""

    dbname: str = postgres.DEFAULT_DB
    port_offset: int = 0
    kafka: bool = True
    workers: int = 2
    threads: int = 4
    extra_env: dict[str, str] = field(default_factory=dict)
    run_dir: Path = REPO / "var" / "stack"
    bootstrap: str | None = None

    def port(self, name: str) -> int:
        return next(s.port for s in SERVICES if s.name == name) + self.port_offset + port_shift()

    def url(self, name: str = "bff") -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    # -- environment ----------------------------------------------------------------------
    def _secrets(self) -> dict[str, str]:
        path = self.run_dir / "secrets.json"
        if path.exists():
            return json.loads(path.read_text())
        values = {
            "JWT_SECRET": secrets.token_urlsafe(48),
            "SERVICE_TOKEN_SECRET": secrets.token_urlsafe(48),
        }
        path.write_text(json.dumps(values))
        os.chmod(path, 0o600)
        return values

    def env_for(self, service: Service) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_URL", "KAFKA_", "OPENAI_", "SNS_"))
        }
        env.update(self._secrets())
        env.update(
            {
                "SALESYNC_ENV": "development",
                "SERVICE_NAME": service.name,
                "BIND": f"127.0.0.1:{self.port(service.name)}",
                "GUNICORN_WORKERS": str(self.workers),
                "GUNICORN_THREADS": str(self.threads),
                "PROMETHEUS_MULTIPROC_DIR": str(self.run_dir / "prometheus" / service.name),
                "PYTHONPATH": str(REPO),
                "LOG_LEVEL": os.environ.get("STACK_LOG_LEVEL", "INFO"),
            }
        )
        for other in SERVICES:
            if other.name != "bff":
                env[f"{other.name.upper()}_SERVICE_URL"] = self.url(other.name)
        if service.schema is not None:
            env["DATABASE_URL"] = postgres.service_url(service.schema, self.dbname)
        if service.name in kafka.SERVICE_USERS and self.bootstrap:
            # Its own SCRAM user over SASL_SSL, like on MSK (devstack.kafka.SERVICE_USERS).
            env.update(kafka.client_env(service.name, self.bootstrap))
        env.update(self.extra_env)
        return env

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout: float = 120) -> Stack:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        postgres.start()
        postgres.provision(self.dbname)
        if self.kafka:
            self.bootstrap = kafka.start()
        for service in SERVICES:
            self.migrate(service)
        for service in SERVICES:
            self.start_service(service.name, wait=False)
        for service in SERVICES:
            self.wait_ready(service.name, timeout)
        return self

    def migrate(self, service: Service) -> None:
        if service.schema is None:
            return
        subprocess.run(
            [sys.executable, "-m", "salesync_common.serve", service.package, "migrate"],
            env=self.env_for(service),
            cwd=REPO,
            check=True,
            capture_output=True,
        )

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def start_service(self, name: str, wait: bool = True) -> None:
        service = next(s for s in SERVICES if s.name == name)
        log = open(self.run_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        process = subprocess.Popen(
            [sys.executable, "-m", "salesync_common.serve", service.package],
            env=self.env_for(service),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._pid_file(name).write_text(str(process.pid))
        if wait:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        url = f"{self.url(name)}/healthz"
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if not self._alive(name):
                tail = (self.run_dir / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited during start:\n{tail}")
            time.sleep(0.2)
        raise TimeoutError(f"{name} not ready after {timeout}s")

    def _alive(self, name: str) -> bool:
        pid_file = self._pid_file(name)
        if not pid_file.exists():
            return False
        try:
            os.kill(int(pid_file.read_text()), 0)
            return True
        except (ProcessLookupError, ValueError):
            return False

    def stop_service(self, name: str, timeout: float = 20) -> None:
        pid_file = self._pid_file(name)
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pid_file.unlink(missing_ok=True)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._alive(name):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if self._alive(name):
            os.killpg(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)

    def stop(self) -> None:
        for service in reversed(SERVICES):
            self.stop_service(service.name)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    stack = Stack()
    if command == "up":
        started = time.monotonic()
        stack.start()
        print(f"Salesync distributed stack up in {time.monotonic() - started:.1f}s")
        for service in SERVICES:
            print(
                f"  {service.name:<11} {stack.url(service.name)}  log: var/stack/{service.name}.log"
            )
        print(f"  kafka       {stack.bootstrap} (SASL_SSL: python -m devstack.kafka env <user>)")
        print(f"  postgres    {postgres.admin_url()}")
        print("Public API: http://127.0.0.1:8000  (docs: /docs)   stop with: make down")
    elif command == "down":
        stack.stop()
        kafka.stop()
        postgres.stop()
        print("Salesync distributed stack stopped")
    elif command == "status":
        for service in SERVICES:
            state = "running" if stack._alive(service.name) else "stopped"
            print(f"{service.name:<11} {state}")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
