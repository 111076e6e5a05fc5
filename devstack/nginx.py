"""nginx (Debian's package): the ingress of the distributed stack, configured from the route table.

The config is rendered from ``salesync_common.routing`` (the same table the ALB rules, the
``make run`` dispatcher and the public OpenAPI document follow):

- each public prefix goes straight to the service that owns it, over HTTP/1.1 keep-alive
  connections (no new TCP connection per call); ``/internal`` and ``/metrics`` get a JSON 404;
  every other path goes to the BFF;
- ``X-Forwarded-For`` is appended to (``$proxy_add_x_forwarded_for``), never passed as the client
  wrote it alone: the services take the entry this hop added (``TRUSTED_PROXY_HOPS=1``);
- ``X-Request-ID`` is passed on (one is minted when the client sent none) and logged;
- request bodies up to the services' limit stay in memory; responses are relayed from memory
  buffers, never spooled to disk; a stream route (``Route(stream=True)``) is not buffered at all;
- one access log per upstream (``<service>.access.log``, one line per request: the benchmark
  counts them) and ``ingress.access.log`` for what the ingress answers itself;
- a service that is down or too slow answers the contract's JSON 503/504, with CORS headers.

``python -m devstack.nginx render`` prints the config for the default stack; ``compose`` writes
``ingress/nginx.conf`` for docker-compose (same routes, container addresses).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack import debian
from salesync_common.app import MAX_BODY_BYTES
from salesync_common.cors import ALLOWED_HEADERS, ALLOWED_METHODS, EXPOSED_HEADERS, MAX_AGE_SECONDS
from salesync_common.routing import (
    BLOCKED_BODY,
    BLOCKED_PREFIXES,
    DEFAULT_SERVICE,
    ROUTES,
    UPSTREAMS,
)

REPO = Path(__file__).resolve().parents[1]
COMPOSE_CONFIG = REPO / "ingress" / "nginx.conf"
# The services' request body limit: a larger body is refused here already (JSON 413).
MAX_BODY = f"{MAX_BODY_BYTES // 1024}k"
UPSTREAM_KEEPALIVE = 32  # idle connections kept per upstream and nginx worker
# Below gunicorn's keep-alive (75 s, gunicorn_conf.py): nginx never reuses a connection the
# service is closing, which would fail a POST that cannot be retried.
UPSTREAM_KEEPALIVE_TIMEOUT = "10s"
STREAM_READ_TIMEOUT = "1h"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _error_body(service: str, status: int) -> str:
    code, text = {
        503: ("dependency_unavailable", "서비스를 사용할 수 없습니다."),
        504: ("dependency_timeout", "서비스가 제시간에 응답하지 않았습니다."),
    }[status]
    body = {
        "result": "failed",
        "message": f"{service} {text}",
        "error": {"code": code, "fields": {}},
        "dependency": service,
    }
    return _json(body)


# What nginx itself may refuse before any service sees the request: answered in the contract's
# JSON error shape too (HTML error pages never appear).
OWN_ERRORS = {
    400: ("bad_request", "잘못된 요청입니다."),
    413: ("payload_too_large", "요청 본문이 너무 큽니다."),
    414: ("uri_too_long", "요청 주소가 너무 깁니다."),
}


def _cors_map(origins: str) -> list[str]:
    allowed = [o.strip() for o in origins.split(",") if o.strip()]
    if "*" in allowed:
        return ["map $http_origin $cors_origin {", '    default "*";', "}"]
    lines = ["map $http_origin $cors_origin {", '    default "";']
    lines += [f'    "{origin}" "{origin}";' for origin in allowed]
    return [*lines, "}"]


def _cors_headers(preflight: bool) -> list[str]:
    lines = ["add_header Access-Control-Allow-Origin $cors_origin always;"]
    if preflight:
        lines += [
            f'add_header Access-Control-Allow-Methods "{ALLOWED_METHODS}" always;',
            f'add_header Access-Control-Allow-Headers "{ALLOWED_HEADERS}" always;',
            f"add_header Access-Control-Max-Age {MAX_AGE_SECONDS} always;",
        ]
    lines += [
        f'add_header Access-Control-Expose-Headers "{EXPOSED_HEADERS}" always;',
        "add_header Vary Origin always;",
        "add_header X-Request-ID $req_id always;",
    ]
    return lines


def _indent(lines: list[str], depth: int) -> list[str]:
    return [("    " * depth + line) if line else "" for line in lines]


def render(
    upstreams: Mapping[str, str],
    *,
    listen: str,
    log_dir: str | None,
    run_dir: str,
    cors_origins: str = "*",
    daemon: bool | None = True,
) -> str:
    """The whole nginx.conf. ``upstreams``: service -> ``host:port``; ``log_dir`` None = stdout;
    ``daemon`` None leaves it to the command line (the container image says ``daemon off``)."""
    services = list(UPSTREAMS)
    missing = set(services) - set(upstreams)
    if missing:
        raise ValueError(f"no upstream address for {sorted(missing)}")

    def access_log(name: str) -> str:
        target = "/dev/stdout" if log_dir is None else f"{log_dir}/{name}.access.log"
        return f"access_log {target} ingress;"

    def proxied(service: str, stream: bool) -> list[str]:
        lines = [
            access_log(service),
            *own_error_pages,  # a location's error_page replaces the server's: repeat them
            f"error_page 502 503 = @unavailable_{service};",
            f"error_page 504 = @timeout_{service};",
        ]
        if stream:
            lines += [
                "proxy_buffering off;",
                "proxy_cache off;",
                f"proxy_read_timeout {STREAM_READ_TIMEOUT};",
            ]
        return [*lines, f"proxy_pass http://{service};"]

    own_error_pages = [f"error_page {status} = @error_{status};" for status in OWN_ERRORS]

    def location(prefix: str, body: list[str]) -> list[str]:
        # Whole segments only: /stores and /stores/..., never /storesx.
        out: list[str] = []
        for pattern in (f"= {prefix}", f"{prefix}/"):
            out += [f"location {pattern} {{", *_indent(body, 1), "}"]
        return out

    blocked = [
        access_log("ingress"),
        "default_type application/json;",
        *_cors_headers(preflight=True),
        "if ($request_method = OPTIONS) {",
        "    return 204;",
        "}",
        f"return 404 '{_json(BLOCKED_BODY)}';",
    ]
    server: list[str] = [
        f"listen {listen};",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',  # keep-alive to the upstreams
        "proxy_set_header Host $host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Request-ID $req_id;",
        "proxy_connect_timeout 2s;",
        "proxy_send_timeout 60s;",
        "proxy_read_timeout 60s;",
        "proxy_next_upstream off;",  # never replay a request (a payment) on an error
        "proxy_buffer_size 16k;",
        "proxy_buffers 16 16k;",
        "proxy_busy_buffers_size 32k;",
        "proxy_max_temp_file_size 0;",
        "proxy_intercept_errors off;",  # the services' own JSON errors pass as they are
        *own_error_pages,
        "",
    ]
    for prefix in BLOCKED_PREFIXES:
        server += location(prefix, blocked)
    for route in sorted(ROUTES, key=lambda r: r.prefix):
        server += location(route.prefix, proxied(route.upstream, route.stream))
    server += ["location / {", *_indent(proxied(DEFAULT_SERVICE, False), 1), "}"]
    for status, (code, message) in OWN_ERRORS.items():
        body = {"result": "failed", "message": message, "error": {"code": code, "fields": {}}}
        server += [
            f"location @error_{status} {{",
            *_indent(
                [
                    "default_type application/json;",
                    *_cors_headers(preflight=False),
                    f"return {status} '{_json(body)}';",
                ],
                1,
            ),
            "}",
        ]
    for service in services:
        for name, status in ((f"@unavailable_{service}", 503), (f"@timeout_{service}", 504)):
            server += [
                f"location {name} {{",
                *_indent(
                    [
                        "default_type application/json;",
                        *_cors_headers(preflight=False),
                        f"return {status} '{_error_body(service, status)}';",
                    ],
                    1,
                ),
                "}",
            ]

    http: list[str] = [
        "server_tokens off;",
        "default_type application/octet-stream;",
        "log_format ingress '$remote_addr [$time_iso8601] \"$request_method $uri\" $status '",
        "                   '$body_bytes_sent $request_time $upstream_response_time $req_id';",
        "access_log off;",
        f"client_max_body_size {MAX_BODY};",
        f"client_body_buffer_size {MAX_BODY};",  # bodies never touch the disk
        f"client_body_temp_path {run_dir}/client_body;",
        f"proxy_temp_path {run_dir}/proxy;",
        f"fastcgi_temp_path {run_dir}/fastcgi;",
        f"uwsgi_temp_path {run_dir}/uwsgi;",
        f"scgi_temp_path {run_dir}/scgi;",
        "keepalive_timeout 65s;",
        "tcp_nodelay on;",
        "map $http_x_request_id $req_id {",
        "    default $http_x_request_id;",
        '    "" $request_id;',
        "}",
        *_cors_map(cors_origins),
        "",
    ]
    for service in services:
        http += [
            f"upstream {service} {{",
            f"    server {upstreams[service]};",
            f"    keepalive {UPSTREAM_KEEPALIVE};",
            f"    keepalive_timeout {UPSTREAM_KEEPALIVE_TIMEOUT};",
            "}",
        ]
    http += ["", "server {", *_indent(server, 1), "}"]
    error_log = "/dev/stderr" if log_dir is None else f"{log_dir}/error.log"
    main = [
        "# Generated from salesync_common.routing by devstack/nginx.py: do not edit by hand.",
        "worker_processes 1;",
        *([] if daemon is None else [f"daemon {'on' if daemon else 'off'};"]),
        f"pid {run_dir}/nginx.pid;",
        f"error_log {error_log} warn;",
        "events {",
        "    worker_connections 1024;",
        "}",
        "http {",
        *_indent(http, 1),
        "}",
        "",
    ]
    return "\n".join(main)


def _binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def ensure_installed() -> str:
    return debian.ensure_installed("nginx", "nginx", _binary)


@dataclass
class Ingress:
    """One nginx instance under ``run_dir`` (``var/<stack>/nginx``), listening on ``port``."""

    run_dir: Path
    port: int
    upstreams: Mapping[str, str]
    cors_origins: str = "*"

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def config(self) -> Path:
        return self.run_dir / "nginx.conf"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self, service: str) -> Path:
        return self.log_dir / f"{service}.access.log"

    def wait_for_access_line(self, service: str, ending: str, timeout: float = 5.0) -> str:
        """The first whole line of ``service``'s access log ending with ``ending``.

        nginx writes a request's line in its log phase, after the response has gone out: a
        client can hold the answer before the line exists. So this polls (every 20 ms) until the
        line is there or ``timeout`` passes (``TimeoutError``). A line still being written (no
        newline yet) does not count.
        """
        path = self.access_log(service)
        deadline = time.monotonic() + timeout
        while True:
            text = path.read_text() if path.exists() else ""
            whole = text[: text.rfind("\n") + 1]
            for line in whole.splitlines():
                if line.endswith(ending):
                    return line
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no line ending with {ending!r} in {path} after {timeout}s")
            time.sleep(0.02)

    def text(self) -> str:
        return render(
            self.upstreams,
            listen=f"127.0.0.1:{self.port}",
            log_dir=str(self.log_dir),
            run_dir=str(self.run_dir),
            cors_origins=self.cors_origins,
        )

    def write_config(self) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(self.text())
        return self.config

    def _command(self, binary: str) -> list[str]:
        error_log = str(self.log_dir / "error.log")
        return [binary, "-p", str(self.run_dir), "-c", str(self.config), "-e", error_log]

    def pid(self) -> int | None:
        try:
            pid = int((self.run_dir / "nginx.pid").read_text())
            os.kill(pid, 0)
            return pid
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return None

    def start(self) -> Ingress:
        binary = ensure_installed()
        self.stop()
        self.write_config()
        test = subprocess.run(
            [*self._command(binary), "-t", "-q"], capture_output=True, text=True, check=False
        )
        if test.returncode != 0:
            raise RuntimeError(f"nginx config rejected:\n{test.stderr}")
        started = subprocess.run(self._command(binary), capture_output=True, text=True, check=False)
        if started.returncode != 0:
            if "Address already in use" in started.stderr:
                raise RuntimeError(
                    f"port {self.port} (ingress) is taken by another process: stop it, or set "
                    "SALESYNC_PORT_SHIFT"
                )
            raise RuntimeError(f"nginx did not start:\n{started.stderr}")
        deadline = time.monotonic() + 10
        while self.pid() is None:
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not write its pid file")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)  # graceful: finish the requests in flight
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.05)
        if self.pid() is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        (self.run_dir / "nginx.pid").unlink(missing_ok=True)

    def count_requests(self) -> dict[str, int]:
        """Lines per access log: how many requests the ingress sent to each service."""
        return {
            path.name.removesuffix(".access.log"): len(path.read_text().splitlines())
            for path in sorted(self.log_dir.glob("*.access.log"))
        }


def compose_config() -> str:
    """``ingress/nginx.conf``: the docker-compose ingress, same routes as everywhere else."""
    return render(
        {service: f"{service}:8080" for service in UPSTREAMS},
        listen="8080",
        log_dir=None,
        run_dir="/tmp",
        # Only the ingress's own answers (blocked path, service down: no data) use this; the
        # services apply CORS_ORIGINS to everything they answer.
        cors_origins="*",
        daemon=None,
    )


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "render"
    if command == "render":
        from devstack.stack import Stack

        print(Stack().ingress().text())
    elif command == "compose":
        COMPOSE_CONFIG.parent.mkdir(exist_ok=True)
        COMPOSE_CONFIG.write_text(compose_config())
        print(f"wrote {COMPOSE_CONFIG.relative_to(REPO)}")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
