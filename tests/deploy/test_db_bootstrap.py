"""The k8s Job db-bootstrap really works: its shell + psql script, taken from the rendered prd
overlay, runs (twice: idempotent) against a throwaway PostgreSQL cluster with TLS and an admin
that, like the RDS master user, has CREATEROLE but is no superuser. Every service role can then
log in with its own password, lands in its own schema, and cannot write into another's."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack import deploy_tools
from tests.deploy.conftest import DB_SERVICES

pytestmark = pytest.mark.deploy


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    missing = [t for t in ("psql", "openssl") if not shutil.which(t)]
    if not found or missing:
        message = "PostgreSQL server binaries, psql and openssl are needed (devstack.postgres)"
        if deploy_tools.in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return Path(found[0]).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, str]]:
    bin_dir = _pg_bin()
    # Not under pytest's tmp dir: the postgres user must be able to reach it.
    root = Path(tempfile.mkdtemp(prefix="salesync-db-bootstrap-"))
    root.chmod(0o755)
    data, run = root / "data", root / "run"
    run.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(run, "postgres")
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]),
        check=True,
        capture_output=True,
    )
    key, cert = data / "server.key", data / "server.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    key.chmod(0o600)
    if os.geteuid() == 0:
        shutil.chown(key, "postgres")
        shutil.chown(cert, "postgres")
    port = str(_free_port())
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{run}'\n"
            "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nfsync = off\n"
        )
    # Password logins over TLS only, like RDS with rds.force_ssl=1.
    (data / "pg_hba.conf").write_text(
        "local all postgres trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n"
    )
    ctl = str(bin_dir / "pg_ctl")
    admin_password = "admin-" + os.urandom(8).hex()
    create_admin = f"CREATE ROLE salesync_admin LOGIN CREATEROLE PASSWORD '{admin_password}'"
    create_db = "CREATE DATABASE salesync OWNER salesync_admin"
    psql = ["psql", "-h", str(run), "-p", port, "-U", "postgres"]
    try:
        subprocess.run(
            _as_postgres([ctl, "-D", str(data), "-l", str(root / "log"), "-w", "start"]),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            _as_postgres([*psql, "-c", create_admin, "-c", create_db]),
            check=True,
            capture_output=True,
        )
        yield {"port": port, "admin_password": admin_password}
    finally:
        subprocess.run(
            _as_postgres([ctl, "-D", str(data), "-m", "fast", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def _psql(env: dict[str, str], user: str, password: str, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env={
            **env,
            "PGHOST": "127.0.0.1",
            "PGDATABASE": "salesync",
            "PGUSER": user,
            "PGPASSWORD": password,
            "PGSSLMODE": "require",
        },
        capture_output=True,
        text=True,
        check=False,
    )


def test_db_bootstrap_job_creates_one_role_and_schema_per_service(
    cluster: dict[str, str], rendered_docs: Callable[[str], list[dict]]
) -> None:
    docs = rendered_docs("k8s/overlays/prd")
    (job,) = [d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == "db-bootstrap"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["/bin/sh", "-c"]
    script = container["args"][0]
    passwords = {name: f"pw-{name}-" + os.urandom(6).hex() for name in DB_SERVICES}
    env = {
        "PATH": os.environ["PATH"],
        "HOME": "/tmp",  # noqa: S108 - what the Job sets
        "DB_HOST": "127.0.0.1",
        "DB_PORT": cluster["port"],
        "DB_NAME": "salesync",
        "ADMIN_USERNAME": "salesync_admin",
        "ADMIN_PASSWORD": cluster["admin_password"],
        **{f"{name.upper()}_PASSWORD": pw for name, pw in passwords.items()},
    }
    names = {e["name"] for e in container["env"]}
    assert set(env) - {"PATH", "DB_PORT"} <= names, "the script uses only what the Job provides"
    for _attempt in range(2):  # idempotent: ArgoCD runs it on every sync
        proc = subprocess.run(
            ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    client_env = {"PATH": os.environ["PATH"], "PGPORT": cluster["port"]}
    for name, password in passwords.items():
        out = _psql(client_env, name, password, "SHOW search_path")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().strip('"') == name
        created = _psql(client_env, name, password, "CREATE TABLE probe (id int); SELECT 1")
        assert created.returncode == 0, created.stderr
        where = _psql(
            client_env,
            name,
            password,
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'probe'",
        )
        assert where.stdout.split() == [name]
        wrong = _psql(client_env, name, "not-the-password", "SELECT 1")
        assert wrong.returncode != 0
    intruder = _psql(client_env, "store", passwords["store"], 'CREATE TABLE "order".x (id int)')
    assert intruder.returncode != 0, "a service must not write into another's schema"
    public = _psql(client_env, "item", passwords["item"], "CREATE TABLE public.x (id int)")
    assert public.returncode != 0, "nobody creates tables in public"
