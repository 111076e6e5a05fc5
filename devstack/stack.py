"""The distributed local stack: nginx + PostgreSQL + Redis + a real Kafka broker + one gunicorn
per service.

``python -m devstack.stack up|down|status`` (``make up`` / ``make down``). End-to-end tests and
benchmarks use :class:`Stack` directly. Every service runs as its own gunicorn process with its own
database role and schema, exactly as in production. nginx is the ingress on 127.0.0.1:8000
(``Stack.url()``): it routes each public prefix to the service that owns it
(``salesync_common.routing``); the services' own ports are for their siblings and the tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from devstack import kafka, postgres
from devstack import redis as redis_server
from devstack.nginx import Ingress

if TYPE_CHECKING:
    from devstack.images import ContainerLauncher

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
    entry: str = "serve"  # the package's entry point (``salesync_common.serve``)


SERVICES: tuple[Service, ...] = (
    Service("store", "store_service", 8101, "store"),
    Service("item", "item_service", 8102, "item"),
    Service("order", "order_service", 8103, "order"),
    Service("sale", "sale_service", 8104, "sale"),
    Service("dashboard", "dashboard_service", 8105, "dashboard"),
    Service("consulting", "consulting_service", 8106, "consulting"),
    Service("bff", "bff", 8100, None),
)
# Processes of a service's image with another entry point: the ingress's stream upstreams
# (``Route.upstream``). They share the service's schema and role; its own process migrates it.
STREAM_PROCESSES: tuple[Service, ...] = (
    Service("order-stream", "order_service", 8107, "order", entry="stream"),
)
PROCESSES: tuple[Service, ...] = SERVICES + STREAM_PROCESSES
PUBLIC_PORT = 8000  # the ingress (nginx here, the in-process dispatcher in make run)
# The services behind nginx take the client IP from the entry nginx appends to X-Forwarded-For.
INGRESS_HOPS = 1
# Random per run directory; the services refuse dev defaults for them in production (the images).
STACK_SECRETS = ("JWT_SECRET", "SERVICE_TOKEN_SECRET", "PIN_TAG_SECRET")


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
    redis_db: int = 0  # separates the rate-limit counts of stacks sharing the checkout's Redis
    rate_limit_storage: str | None = None
    # Set: each service runs from its image instead of a local process (devstack/images.py).
    containers: ContainerLauncher | None = None

    def port(self, name: str) -> int:
        return next(s.port for s in PROCESSES if s.name == name) + self.port_offset + port_shift()

    @property
    def public_port(self) -> int:
        return PUBLIC_PORT + self.port_offset + port_shift()

    def url(self, name: str | None = None) -> str:
        """The public URL (the ingress), or one service's own address."""
        if name is None:
            return f"http://127.0.0.1:{self.public_port}"
        return f"http://127.0.0.1:{self.port(name)}"

    def ingress(self) -> Ingress:
        return Ingress(
            run_dir=self.run_dir / "nginx",
            port=self.public_port,
            upstreams={
                service.name: f"127.0.0.1:{self.port(service.name)}" for service in PROCESSES
            },
            cors_origins=os.environ.get("CORS_ORIGINS", "*"),
        )

    # -- environment ----------------------------------------------------------------------
    def _secrets(self) -> dict[str, str]:
        """The stack's secrets, made once per run directory (what production reads from Secrets)."""
        path = self.run_dir / "secrets.json"
        values: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        missing = [name for name in STACK_SECRETS if name not in values]
        if missing:
            values.update({name: secrets.token_urlsafe(48) for name in missing})
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
                "PROMETHEUS_MULTIPROC_DIR": str(self.run_dir / "prometheus" / service.name),
                "PYTHONPATH": str(REPO),
                "LOG_LEVEL": os.environ.get("STACK_LOG_LEVEL", "INFO"),
                "TRUSTED_PROXY_HOPS": str(INGRESS_HOPS),
            }
        )
        if service.entry == "serve":  # other entry points bring their own worker model
            env.update(
                {"GUNICORN_WORKERS": str(self.workers), "GUNICORN_THREADS": str(self.threads)}
            )
        if self.rate_limit_storage:
            env["RATE_LIMIT_STORAGE_URI"] = self.rate_limit_storage
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
        self.check_ports()
        postgres.start()
        postgres.provision(self.dbname)
        redis_server.start()
        self.rate_limit_storage = redis_server.url(self.redis_db)
        if self.kafka:
            self.bootstrap = kafka.start()
        for service in SERVICES:
            self.migrate(service)
        for service in PROCESSES:
            self.start_service(service.name, wait=False)
        for service in PROCESSES:
            self.wait_ready(service.name, timeout)
        self.ingress().start()
        return self

    def check_ports(self) -> None:
        """Before starting anything: every port free, and no service of ours still running."""
        for service in PROCESSES:
            if self._alive(service.name):
                raise RuntimeError(f"{service.name} is already running: stop the stack first")
            require_free_port(self.port(service.name), service.name)
        if self.ingress().pid() is not None:
            raise RuntimeError("nginx is already running: stop the stack first")
        require_free_port(self.public_port, "ingress")

    def _command(self, service: Service, *args: str) -> tuple[list[str], dict[str, str]]:
        """What runs ``salesync_common.serve <package> *args`` and its environment: a local
        process, or with ``containers`` the service's image (same environment, same port)."""
        env = self.env_for(service)
        if self.containers is not None:
            return self.containers.command(service, env, args, self.port(service.name))
        return [sys.executable, "-m", "salesync_common.serve", service.package, *args], env

    def migrate(self, service: Service) -> None:
        if service.schema is None:
            return
        command, env = self._command(service, "migrate")
        done = subprocess.run(command, env=env, cwd=REPO, check=False, capture_output=True)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
            raise RuntimeError(f"{service.name} migrations failed:\n{output}")

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def start_service(self, name: str, wait: bool = True) -> None:
        service = next(s for s in PROCESSES if s.name == name)
        if self._alive(name):
            raise RuntimeError(f"{name} is already running (pid file {self._pid_file(name)})")
        require_free_port(self.port(name), name)
        log = open(self.run_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        # the default entry point needs no argument (and keeps the container's name plain)
        command, env = self._command(
            service, *([] if service.entry == "serve" else [service.entry])
        )
        process = subprocess.Popen(
            command,
            env=env,
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
        """Until the service answers ``/healthz`` as itself, from the process this stack started."""
        deadline = time.monotonic() + timeout
        url = f"{self.url(name)}/healthz"
        while time.monotonic() < deadline:
            try:
                answer = requests.get(url, timeout=1)
                answered = answer.status_code == 200 and answer.json().get("service") == name
                if answered and self._alive(name):
                    return
            except (requests.RequestException, ValueError):
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
        try:
            self._stop_process(name, timeout)
        finally:
            if self.containers is not None:
                service = next(s for s in PROCESSES if s.name == name)
                self.containers.remove(service, self.port(name))

    def _stop_process(self, name: str, timeout: float) -> None:
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
        self.ingress().stop()
        for service in reversed(PROCESSES):
            self.stop_service(service.name)


def require_free_port(port: int, owner: str) -> None:
    """Refuse to start on a port another process holds: it would answer in our place."""
    with socket.socket() as sock:
        # As the servers bind: connections of a previous run in TIME_WAIT do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise RuntimeError(
                f"port {port} ({owner}) is taken by another process: stop it, or set "
                "SALESYNC_PORT_SHIFT"
            ) from None


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    stack = Stack()
    if command == "up":
        started = time.monotonic()
        try:
            stack.start()
        except (RuntimeError, TimeoutError) as exc:
            print(f"make up failed: {exc}", file=sys.stderr)
            return 1
        print(f"Salesync distributed stack up in {time.monotonic() - started:.1f}s")
        ingress = stack.ingress()
        print(f"  {'nginx':<11} {stack.url()}  logs: {ingress.log_dir.relative_to(REPO)}/")
        for service in PROCESSES:
            print(
                f"  {service.name:<12} {stack.url(service.name)}  log: var/stack/{service.name}.log"
            )
        print(f"  kafka       {stack.bootstrap} (SASL_SSL: python -m devstack.kafka env <user>)")
        print(f"  postgres    {postgres.masked(postgres.admin_url())}")
        print(f"  redis       127.0.0.1:{redis_server.port()}")
        print(f"Public API: {stack.url()}  (docs: /docs)   stop with: make down")
    elif command == "down":
        stack.stop()
        kafka.stop()
        redis_server.stop()
        postgres.stop()
        print("Salesync distributed stack stopped")
    elif command == "status":
        ingress_state = "running" if stack.ingress().pid() is not None else "stopped"
        print(f"{'nginx':<11} {ingress_state}")
        for service in PROCESSES:
            state = "running" if stack._alive(service.name) else "stopped"
            print(f"{service.name:<11} {state}")
        print(f"{'redis':<11} {'running' if redis_server.is_running() else 'stopped'}")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
