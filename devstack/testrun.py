"""``make test``: lint, typecheck, start real PostgreSQL, Redis and Kafka, run every test, stop
what was started.

With ``CI=true`` nothing may be missing: a PostgreSQL, Redis or Kafka that cannot start fails the
run, and so does a container engine that cannot be installed (the image tests build and run the
seven images, ``tests/e2e/test_images.py``). nginx (the ingress of the end-to-end tests) is
installed here too when missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

from devstack import images, kafka, nginx, postgres
from devstack import redis as redis_server

REPO = Path(__file__).resolve().parents[1]
JUNIT_REPORT = REPO / "var" / "test-report.xml"
TEST_PATHS = [
    "store_service/tests",
    "item_service/tests",
    "order_service/tests",
    "sale_service/tests",
    "dashboard_service/tests",
    "consulting_service/tests",
    "bff/tests",
    "tests",
]


def _step(title: str) -> float:
    print(f"\n==> {title}", flush=True)
    return time.monotonic()


def main(argv: list[str]) -> int:
    python = sys.executable
    started = _step("lint (ruff check, ruff format --check)")
    lint = subprocess.run([python, "-m", "ruff", "check", "."], cwd=REPO, check=False)
    fmt = subprocess.run([python, "-m", "ruff", "format", "--check", "."], cwd=REPO, check=False)
    if lint.returncode or fmt.returncode:
        print("lint failed")
        return 1
    print(f"lint ok ({time.monotonic() - started:.1f}s)")

    started = _step("typecheck (mypy, configured in pyproject.toml)")
    if subprocess.run([python, "-m", "mypy"], cwd=REPO, check=False).returncode:
        print("typecheck failed")
        return 1
    print(f"typecheck ok ({time.monotonic() - started:.1f}s)")

    started = _step("PostgreSQL (Debian package, cluster under var/pg)")
    pg_was_running = postgres.main(["", "status"]) == 0
    postgres.start()
    print(f"PostgreSQL ready ({time.monotonic() - started:.1f}s)")

    started = _step("Redis (Debian package, var/redis) and nginx (Debian package)")
    redis_was_running = redis_server.is_running()
    redis_server.start()
    nginx.ensure_installed()
    print(f"Redis and nginx ready ({time.monotonic() - started:.1f}s)")

    started = _step("Kafka broker (Maven Central jars, KRaft, var/kafka)")
    kafka_was_running = kafka.is_running()
    kafka.start()
    print(f"Kafka ready ({time.monotonic() - started:.1f}s)")

    started = _step("deployment validation tools")
    tools = subprocess.run(
        [python, "-m", "devstack.deploy_tools", "install"], cwd=REPO, check=False
    )
    if tools.returncode:
        print("could not install the deployment validation tools")
        return 1
    print(f"tools ready ({time.monotonic() - started:.1f}s)")

    started = _step("container engine (docker, else podman from Debian's packages)")
    try:
        engine = images.detect_engine(install=True)
        print(f"{' '.join(engine.command)} ready ({time.monotonic() - started:.1f}s)")
    except (images.EngineMissingError, OSError, subprocess.CalledProcessError) as exc:
        print(f"no container engine: {exc}")
        if images.in_ci():
            return 1

    started = _step("pytest: unit, integration, e2e, images, deploy, schemathesis")
    paths = [p for p in TEST_PATHS if (REPO / p).exists()]
    pytest_started = time.time()
    try:
        result = subprocess.run(
            [python, "-m", "pytest", f"--junitxml={JUNIT_REPORT}", *paths, *argv[1:]],
            cwd=REPO,
            env=os.environ,
            check=False,
        )
    finally:
        if not kafka_was_running:
            kafka.stop()
        if not redis_was_running:
            redis_server.stop()
        if not pg_was_running:
            postgres.stop()
    print(f"pytest finished in {time.monotonic() - started:.1f}s")
    if images.BUILD_REPORT.exists() and images.BUILD_REPORT.stat().st_mtime > pytest_started:
        print(f"\nimages (last builds, {images.BUILD_REPORT.relative_to(REPO)}):")
        subprocess.run([python, "-m", "devstack.images", "report"], cwd=REPO, check=False)
    if result.returncode:
        print_first_failures(JUNIT_REPORT)
    return result.returncode


def print_first_failures(report: Path, limit: int = 8) -> None:
    """The first failing tests and their messages, last in the output: a CI log that keeps only
    its tail still shows the failure that caused the others (a broken fixture fails every test
    after it with a message of its own)."""
    if not report.exists():
        return
    failures = []
    # pytest wrote this file moments ago: trusted input
    for case in ElementTree.parse(report).iter("testcase"):  # noqa: S314
        for problem in list(case.iter("failure")) + list(case.iter("error")):
            text = (problem.get("message") or problem.text or "").strip().splitlines()
            where = f"{case.get('classname')}::{case.get('name')}"
            failures.append(f"{problem.tag} {where}: {text[0][:300] if text else ''}")
    if failures:
        print(f"\nfirst {min(limit, len(failures))} of {len(failures)} failures (all: {report}):")
        print("\n".join(failures[:limit]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
