"""A real local PostgreSQL from Debian's ``postgresql`` package, run by the project itself.

``python -m devstack.postgres start|stop|status|url [schema]``. Installs the package if missing,
initialises a cluster under ``var/pg``, starts it on 127.0.0.1 (``PGPORT`` or a free port) and
provisions one role and one schema per service. Idempotent; seconds when already installed.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devstack import debian

REPO = Path(__file__).resolve().parents[1]
PG_DIR = REPO / "var" / "pg"
DATA = PG_DIR / "data"
RUN = PG_DIR / "run"
LOG = PG_DIR / "postgres.log"
STATE = PG_DIR / "state.json"
SCHEMAS = ("store", "item", "order", "sale", "dashboard", "consulting")
SUPERUSER = "salesync_admin"
DEFAULT_DB = "salesync"


def _bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def ensure_installed() -> Path:
    return debian.ensure_installed("postgresql", "PostgreSQL", _bin_dir)


def _as_owner(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root: run them as the package's postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _prepare_dirs() -> None:
    for path in (PG_DIR, RUN):
        path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        uid, gid = pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid
        for path in (PG_DIR, RUN):
            os.chown(path, uid, gid)
        # postgres must be able to walk down to var/pg
        for parent in (PG_DIR.parent, *PG_DIR.parent.parents):
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load_state() -> dict[str, Any]:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def _save_state(state: dict[str, Any]) -> None:
    STATE.write_text(json.dumps(state, indent=2))
    os.chmod(STATE, 0o600)


def _running(bin_dir: Path) -> bool:
    if not (DATA / "PG_VERSION").exists():
        return False
    result = subprocess.run(
        _as_owner([str(bin_dir / "pg_ctl"), "-D", str(DATA), "status"]),
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def _initdb(bin_dir: Path, state: dict[str, Any]) -> None:
    password_file = PG_DIR / "pw.tmp"
    password_file.write_text(state["superuser_password"])
    if os.geteuid() == 0:
        shutil.chown(password_file, "postgres")
    try:
        subprocess.run(
            _as_owner(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(DATA),
                    "-U",
                    SUPERUSER,
                    "--pwfile",
                    str(password_file),
                    "-A",
                    "scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            capture_output=True,
        )
    finally:
        password_file.unlink(missing_ok=True)


def start(port: int | None = None) -> str:
    """Start (or find running) and provision the default database; returns the admin URL."""
    bin_dir = ensure_installed()
    _prepare_dirs()
    state = _load_state()
    if not state.get("superuser_password") or not (DATA / "PG_VERSION").exists():
        state = {
            "superuser_password": secrets.token_urlsafe(24),
            "roles": {schema: secrets.token_urlsafe(24) for schema in SCHEMAS},
        }
        shutil.rmtree(DATA, ignore_errors=True)
        _initdb(bin_dir, state)
    if not _running(bin_dir):
        port = port or int(os.environ.get("PGPORT") or 0) or state.get("port") or _free_port()
        started = time.monotonic()
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={RUN} "
            "-c max_connections=300 -c shared_buffers=256MB -c log_min_messages=warning "
            "-c log_min_duration_statement=-1"
        )
        subprocess.run(
            _as_owner(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(DATA),
                    "-l",
                    str(LOG),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        state["port"] = port
        print(f"PostgreSQL started on 127.0.0.1:{port} in {time.monotonic() - started:.1f}s")
    _save_state(state)
    provision(DEFAULT_DB)
    return admin_url(DEFAULT_DB)


def stop() -> None:
    bin_dir = _bin_dir()
    if bin_dir is None or not _running(bin_dir):
        return
    subprocess.run(
        _as_owner([str(bin_dir / "pg_ctl"), "-D", str(DATA), "-m", "fast", "-w", "stop"]),
        check=False,
        capture_output=True,
    )


def admin_url(dbname: str = DEFAULT_DB) -> str:
    state = _load_state()
    return (
        f"postgresql://{SUPERUSER}:{state['superuser_password']}@127.0.0.1:{state['port']}/{dbname}"
    )


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***``: what may be printed or logged.

    ``python -m devstack.postgres url`` is the one place that prints a real password (its
    output is meant for ``$(...)``); everything else shows this.
    """
    scheme, sep, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"


def role_name(schema: str) -> str:
    return f"{schema}_svc"


def service_url(schema: str, dbname: str = DEFAULT_DB) -> str:
    """The URL a service uses: its own role, which can only reach its own schema."""
    state = _load_state()
    password = state["roles"][schema]
    return f"postgresql://{role_name(schema)}:{password}@127.0.0.1:{state['port']}/{dbname}"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def provision(dbname: str) -> None:
    """Create the database (if missing), one role per service and its own schema in it."""
    import psycopg2

    state = _load_state()
    admin = psycopg2.connect(admin_url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE DATABASE {_quote(dbname)}")
        for schema in SCHEMAS:
            role = role_name(schema)
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute(f"{verb} ROLE {_quote(role)} LOGIN PASSWORD %s", (state["roles"][schema],))
            cur.execute(f"ALTER ROLE {_quote(role)} SET search_path = {_quote(schema)}")
    admin.close()
    conn = psycopg2.connect(admin_url(dbname))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        for schema in SCHEMAS:
            role = role_name(schema)
            cur.execute(
                f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)} AUTHORIZATION {_quote(role)}"
            )
            cur.execute(f"GRANT CONNECT ON DATABASE {_quote(dbname)} TO {_quote(role)}")
    conn.close()


def drop_database(dbname: str) -> None:
    import psycopg2

    admin = psycopg2.connect(admin_url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {_quote(dbname)} WITH (FORCE)")
    admin.close()


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "start":
        start()
        print(f"PostgreSQL ready: 127.0.0.1:{_load_state()['port']} (data in {DATA})")
    elif command == "stop":
        stop()
        print("PostgreSQL stopped")
    elif command == "status":
        bin_dir = _bin_dir()
        running = bin_dir is not None and _running(bin_dir)
        print("running" if running else "stopped")
        return 0 if running else 1
    elif command == "url":
        print(service_url(argv[2]) if len(argv) > 2 else admin_url())
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
