"""Shared helpers for the static deployment checks (Dockerfiles, k8s, Terraform, workflows,
observability). The tools come from ``python -m devstack.deploy_tools install``; a missing tool
skips locally with that hint and fails in CI (``CI=true``)."""

from __future__ import annotations

import importlib
import json
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from devstack import deploy_tools

REPO = deploy_tools.REPO_ROOT
CRD_SCHEMAS = Path(__file__).parent / "crd_schemas"

# The seven services: k8s name -> (package, Dockerfile suffix, image name).
SERVICES: dict[str, tuple[str, str, str]] = {
    "bff": ("bff", "bff", "salesync-bff"),
    "store": ("store_service", "store", "salesync-store"),
    "item": ("item_service", "item", "salesync-item"),
    "order": ("order_service", "order", "salesync-order"),
    "sale": ("sale_service", "sale", "salesync-sale"),
    "dashboard": ("dashboard_service", "dash", "salesync-dash"),
    "consulting": ("consulting_service", "consulting", "salesync-consulting"),
}
DB_SERVICES = [name for name in SERVICES if name != "bff"]


def _processes() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for name, (package, _suffix, _image) in SERVICES.items():
        entry_points = getattr(importlib.import_module(f"{package}.config"), "ENTRY_POINTS", {})
        found |= {f"{name}-{command}": (name, command) for command in entry_points}
    return found


# The other processes of a service's image (its config's ENTRY_POINTS, `app.sh <command>`), each a
# workload of its own: name `<service>-<command>` -> (service, command). Declaring an entry point
# is what makes the deployment tests expect its Deployment.
PROCESSES: dict[str, tuple[str, str]] = _processes()
# Every long-running workload: the services, then the other processes of their images.
WORKLOADS: list[str] = [*SERVICES, *PROCESSES]


def owner(workload: str) -> str:
    """The service whose image, database role and Secret a workload uses."""
    return PROCESSES[workload][0] if workload in PROCESSES else workload


OVERLAYS = ["dev", "prd"]


def require_tool(name: str) -> Path:
    try:
        return deploy_tools.tool(name)
    except deploy_tools.ToolMissingError as exc:
        if deploy_tools.in_ci():
            pytest.fail(f"{exc} (CI=true: a missing validation tool is a failure)")
        pytest.skip(str(exc))


def require_tools_python() -> Path:
    try:
        return deploy_tools.tools_python()
    except deploy_tools.ToolMissingError as exc:
        if deploy_tools.in_ci():
            pytest.fail(f"{exc} (CI=true: a missing validation tool is a failure)")
        pytest.skip(str(exc))


def run(
    cmd: Iterable[str | Path], cwd: Path = REPO, timeout: int = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_ok(cmd: Iterable[str | Path], cwd: Path = REPO, timeout: int = 120) -> str:
    proc = run(cmd, cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(str(c) for c in cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    return proc.stdout


def parse_files(paths: Iterable[Path]) -> dict[str, Any]:
    """Parse .tf (python-hcl2), .yaml/.yml (all documents) and .json files in the tools venv."""
    python = require_tools_python()
    paths = [str(p) for p in paths]
    out = run_ok([python, "-m", "devstack.deploy_tools", "to-json", *paths], timeout=300)
    return json.loads(out)


def kustomize_build(path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    kustomize = require_tool("kustomize")
    rendered = run_ok([kustomize, "build", path])
    out = (
        tmp_path_factory.mktemp("kustomize")
        / f"{path.relative_to(REPO).as_posix().replace('/', '_')}.yaml"
    )
    out.write_text(rendered)
    return out


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``rendered('k8s/overlays/prd')`` -> file with the kustomize output (built once)."""
    cache: dict[str, Path] = {}

    def build(rel: str) -> Path:
        if rel not in cache:
            cache[rel] = kustomize_build(REPO / rel, tmp_path_factory)
        return cache[rel]

    return build


@pytest.fixture(scope="session")
def rendered_docs(rendered: Callable[[str], Path]) -> Callable[[str], list[dict]]:
    """``rendered_docs('k8s/overlays/prd')`` -> the rendered documents as dicts."""
    cache: dict[str, list[dict]] = {}

    def docs(rel: str) -> list[dict]:
        if rel not in cache:
            path = rendered(rel)
            cache[rel] = parse_files([path])[str(path)]
        return cache[rel]

    return docs
