"""``make run``: the whole system in one process, nothing to install.

Every service is its own Flask app on its own loopback port, exactly as in the distributed stack,
but on SQLite files under ``var/embedded``, with the in-process event bus instead of Kafka, the
offline analyst instead of OpenAI and settlement texts written to the log instead of SMS.
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

from devstack.stack import SERVICES, port_shift

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
    shift = args.port_offset + port_shift()
    port = {service.name: service.port + shift for service in SERVICES}
    for service in SERVICES:
        if service.name != "bff":
            os.environ[f"{service.name.upper()}_SERVICE_URL"] = (
                f"http://127.0.0.1:{port[service.name]}"
            )

    from salesync_common.migrate import upgrade

    servers = []
    for service in SERVICES:
        config = importlib.import_module(f"{service.package}.config")
        settings = config.Settings()
        schema = getattr(config, "SCHEMA", None)
        if schema is not None:
            upgrade(service.package, settings, schema)
        app = importlib.import_module(f"{service.package}.app").create_app(settings)
        server = make_server("127.0.0.1", port[service.name], app, threaded=True)
        threading.Thread(target=server.serve_forever, name=service.name, daemon=True).start()
        servers.append(server)

    print("\nSalesync is running (embedded mode: SQLite, in-process events, offline analyst)")
    print(f"  Public API : http://127.0.0.1:{port['bff']}")
    print(f"  API docs   : http://127.0.0.1:{port['bff']}/docs")
    print(f"  Data       : {data}")
    print("Press Ctrl-C to stop.\n", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for server in servers:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
