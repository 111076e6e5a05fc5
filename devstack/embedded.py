"""``make run``: the whole system in one process on one port, nothing to install.

Every service is its own Flask app, as in the distributed stack, behind an in-process dispatcher
by path prefix (the route table of ``salesync_common.routing``, as nginx and the ALB use it) on
http://127.0.0.1:8000. No HTTP hop anywhere: the dispatcher calls the owning app directly and the
services call each other through ``inproc://<service>`` URLs. SQLite files under ``var/embedded``,
the in-process event bus instead of Kafka, the offline analyst instead of OpenAI and settlement
texts written to the log instead of SMS.
"""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

from werkzeug.serving import make_server

from devstack.stack import PUBLIC_PORT, SERVICES, port_shift, require_free_port
from salesync_common.http import IN_PROCESS_SCHEME, register_in_process

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "var" / "embedded"


def _secret(data: Path, name: str) -> str:
    path = data / f".{name}"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        os.chmod(path, 0o600)
    return path.read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Salesync in one process (make run)")
    parser.add_argument("--port-offset", type=int, default=0, help="added to every port (tests)")
    parser.add_argument("--data-dir", type=Path, default=DATA, help="where the SQLite files live")
    args = parser.parse_args(argv)
    data: Path = args.data_dir
    data.mkdir(parents=True, exist_ok=True)
    for key in list(os.environ):
        if key in ("DATABASE_URL", "SNS_ENDPOINT_URL") or key.startswith("KAFKA_"):
            os.environ.pop(key, None)
    os.environ.setdefault("SALESYNC_ENV", "development")
    os.environ["JWT_SECRET"] = _secret(data, "jwt_secret")
    os.environ["SERVICE_TOKEN_SECRET"] = _secret(data, "service_token_secret")
    os.environ["SQLITE_DIR"] = str(data)
    # One process, no proxy in front: the client IP is the peer's address; limits in memory.
    os.environ["TRUSTED_PROXY_HOPS"] = "0"
    os.environ["RATE_LIMIT_STORAGE_URI"] = "memory://"
    port = PUBLIC_PORT + args.port_offset + port_shift()
    for service in SERVICES:
        os.environ[f"{service.name.upper()}_SERVICE_URL"] = f"{IN_PROCESS_SCHEME}://{service.name}"

    from salesync_common.context import service_var
    from salesync_common.cors import CorsPolicy
    from salesync_common.logging import configure_logging
    from salesync_common.migrate import upgrade
    from salesync_common.routing import PrefixDispatcher

    try:  # before migrating anything: a second `make run` must not touch the first one's port
        require_free_port(port, "make run")
    except RuntimeError as exc:
        sys.exit(str(exc))
    apps = {}
    for service in SERVICES:
        config = importlib.import_module(f"{service.package}.config")
        settings = config.Settings()
        schema = getattr(config, "SCHEMA", None)
        if schema is not None:
            # JSON logs before the first app exists: the first service migrates before it.
            configure_logging(service.name, settings.log_level)
            token = service_var.set(service.name)  # its migration logs name it
            try:
                upgrade(service.package, settings, schema)
            finally:
                service_var.reset(token)
        app = importlib.import_module(f"{service.package}.app").create_app(settings)
        register_in_process(service.name, app)
        apps[service.name] = app
    dispatcher = PrefixDispatcher(apps, CorsPolicy(os.environ.get("CORS_ORIGINS", "*")).headers)
    server = make_server("127.0.0.1", port, dispatcher, threaded=True)
    threading.Thread(target=server.serve_forever, name="dispatcher", daemon=True).start()

    print("\nSalesync is running (embedded mode: SQLite, in-process events, offline analyst)")
    print(f"  Public API : http://127.0.0.1:{port}")
    print(f"  API docs   : http://127.0.0.1:{port}/docs")
    print(f"  Data       : {data}")
    print("Press Ctrl-C to stop.\n", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
