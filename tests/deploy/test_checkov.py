"""Static security analysis: checkov over Terraform, the rendered Kubernetes overlays, the
Dockerfiles and the GitHub workflows. Any failed check fails the run unless it is fixed or
suppressed in ``checkov_skips.yaml`` with a one-line reason (or inline, with a reason).

checkov runs offline: no update check, no download of policy metadata or Terraform modules, no
API key, and a dead proxy for anything that still tries to reach out.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import REPO, SERVICES, require_tool

SKIPS_FILE = Path(__file__).parent / "checkov_skips.yaml"
TARGETS = ("terraform", "kubernetes", "dockerfile", "github_actions")
CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
# Inline suppressions anywhere in the scanned trees: `checkov:skip=CKV_X:reason` (comments) and
# `checkov.io/skip<n>: CKV_X=reason` (Kubernetes annotations).
INLINE_SKIP = re.compile(r"checkov(?::skip=|\.io/skip\d*:\s*)(CKV2?_[A-Z0-9]+_\d+)([:=]?)(.*)")
DEAD_PROXY = "http://127.0.0.1:9"  # discard port: any network attempt fails at once


def overlays() -> list[str]:
    """Every overlay under k8s/overlays: a new overlay (or a new manifest an overlay renders,
    like a new Deployment in k8s/base) is scanned without touching this file."""
    found = sorted(
        p.parent.relative_to(REPO).as_posix()
        for p in REPO.glob("k8s/overlays/*/kustomization.yaml")
    )
    assert found, "no overlay found under k8s/overlays"
    return found


def checkov_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BC_", "PRISMA_", "CKV_")) and k.lower() not in {"no_proxy"}
    }
    env.update(
        CKV_SKIP_PACKAGE_UPDATE_CHECK="true",  # no query to PyPI for a newer checkov
        BC_SKIP_MAPPING="TRUE",  # no download of policy metadata
        CKV_GITHUB_CONFIG_FETCH_DATA="false",
        CKV_GITLAB_CONFIG_FETCH_DATA="false",
        HTTP_PROXY=DEAD_PROXY,
        HTTPS_PROXY=DEAD_PROXY,
        http_proxy=DEAD_PROXY,
        https_proxy=DEAD_PROXY,
        LOG_LEVEL="WARNING",
    )
    return env


def run_checkov(framework: str, args: list[str | Path], cwd: Path = REPO) -> dict[str, Any]:
    checkov = require_tool("checkov")
    cmd = [
        checkov,
        "--framework",
        framework,
        "--skip-download",
        "--download-external-modules",
        "false",
        "--quiet",  # JSON with failed and skipped checks only
        "--output",
        "json",
        *args,
    ]
    proc = run_env(cmd, cwd)
    # checkov exits 1 when a check fails; anything else is a crash.
    assert proc.returncode in (0, 1), f"checkov {framework} exited {proc.returncode}\n{proc.stderr}"
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    (found,) = [r for r in reports if r.get("check_type") == framework] or [None]
    assert found is not None, (
        f"checkov ran no {framework} check\n{proc.stdout[:2000]}\n{proc.stderr}"
    )
    summary = found["summary"]
    assert summary["parsing_errors"] == 0, (
        f"checkov could not parse: {found['results']['parsing_errors']}"
    )
    assert summary["passed"] + summary["failed"] + summary["skipped"] > 0, (
        f"checkov {framework}: no check ran"
    )
    return found


def run_env(cmd: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=checkov_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def scan(target: str, rendered: Callable[[str], Path], tmp: Path) -> dict[str, Any]:
    if target == "terraform":
        return run_checkov("terraform", ["--directory", "terraform"])
    if target == "kubernetes":
        files: list[str | Path] = []
        for overlay in overlays():
            files += ["--file", rendered(overlay)]
        return run_checkov("kubernetes", files)
    if target == "dockerfile":
        # checkov recognises `Dockerfile`, `x.Dockerfile` and `Dockerfile.x`, not `Dockerfile-x`:
        # scan copies named `<suffix>.Dockerfile` (inline suppressions come along).
        dockerfiles = sorted(REPO.glob("Dockerfile-*"))
        assert len(dockerfiles) == len(SERVICES), [p.name for p in dockerfiles]
        for path in dockerfiles:
            shutil.copyfile(path, tmp / f"{path.name.removeprefix('Dockerfile-')}.Dockerfile")
        return run_checkov("dockerfile", ["--directory", tmp])
    return run_checkov("github_actions", ["--directory", ".github/workflows"])


def load_skips() -> list[dict[str, Any]]:
    skips = yaml.safe_load(SKIPS_FILE.read_text()) or []
    assert isinstance(skips, list)
    return skips


def suppressed_by(failure: dict[str, Any], target: str, skips: list[dict[str, Any]]) -> int | None:
    for index, skip in enumerate(skips):
        if skip.get("target") != target or skip.get("check") != failure["check_id"]:
            continue
        if any(fnmatch.fnmatchcase(failure["resource"], pat) for pat in skip.get("resources", [])):
            return index
    return None


@pytest.fixture(scope="session")
def checkov_reports(
    rendered: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """One checkov run per target for the whole session."""
    cache: dict[str, dict[str, Any]] = {}

    def get(target: str) -> dict[str, Any]:
        if target not in cache:
            cache[target] = scan(target, rendered, tmp_path_factory.mktemp(f"checkov-{target}"))
        return cache[target]

    return {t: get(t) for t in TARGETS}


def describe(failure: dict[str, Any]) -> str:
    lines = failure.get("file_line_range") or [0, 0]
    return (
        f"{failure['check_id']} {failure['resource']} ({failure['file_path']}:{lines[0]}): "
        f"{failure['check_name']}"
    )


@pytest.mark.parametrize("target", TARGETS)
def test_checkov_finds_nothing_unsuppressed(
    target: str, checkov_reports: dict[str, dict[str, Any]]
) -> None:
    report = checkov_reports[target]
    skips = load_skips()
    failures = report["results"]["failed_checks"]
    open_findings = [f for f in failures if suppressed_by(f, target, skips) is None]
    assert not open_findings, (
        f"checkov {target}: {len(open_findings)} finding(s) neither fixed nor suppressed in "
        f"{SKIPS_FILE.relative_to(REPO)}:\n" + "\n".join(describe(f) for f in open_findings)
    )
    # Inline suppressions show as skipped checks: each must carry its reason.
    unexplained = [
        s
        for s in report["results"].get("skipped_checks", [])
        if not str(s.get("suppress_comment", "")).strip()
    ]
    assert not unexplained, "inline checkov suppressions without a reason:\n" + "\n".join(
        describe(s) for s in unexplained
    )


def test_every_suppression_has_a_reason_and_is_still_needed(
    checkov_reports: dict[str, dict[str, Any]],
) -> None:
    skips = load_skips()
    problems: list[str] = []
    used: set[int] = set()
    for target in TARGETS:
        for failure in checkov_reports[target]["results"]["failed_checks"]:
            index = suppressed_by(failure, target, skips)
            if index is not None:
                used.add(index)
    for index, skip in enumerate(skips):
        where = f"entry {index} ({skip.get('check')})"
        if set(skip) != {"check", "target", "resources", "reason"}:
            problems.append(f"{where}: keys must be check, target, resources, reason")
        if not CHECK_ID.match(str(skip.get("check", ""))):
            problems.append(f"{where}: not a checkov check id")
        if skip.get("target") not in TARGETS:
            problems.append(f"{where}: target must be one of {TARGETS}")
        if not skip.get("resources") or not all(
            isinstance(r, str) and r for r in skip["resources"]
        ):
            problems.append(f"{where}: resources must be a non-empty list of patterns")
        reason = skip.get("reason")
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
            problems.append(f"{where}: reason must be one non-empty line")
        if index not in used:
            problems.append(f"{where}: matches no failed check any more; remove it")
    assert not problems, "\n".join(problems)


def test_inline_suppressions_carry_a_reason() -> None:
    """Suppressions written inline (outside the skips file) need a reason too."""
    trees = [
        REPO / "terraform",
        REPO / "k8s",
        REPO / ".github" / "workflows",
        *REPO.glob("Dockerfile-*"),
    ]
    missing: list[str] = []
    for tree in trees:
        for path in [tree] if tree.is_file() else sorted(p for p in tree.rglob("*") if p.is_file()):
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                match = INLINE_SKIP.search(line)
                if match and not (match.group(2) and match.group(3).strip()):
                    missing.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not missing, "inline checkov suppressions without a reason:\n" + "\n".join(missing)


def test_suppression_matching_is_exact() -> None:
    """The matcher suppresses only its own check, target and resources."""
    skips = [
        {
            "check": "CKV_K8S_40",
            "target": "kubernetes",
            "resources": ["Job.salesync.db-*"],
            "reason": "r",
        }
    ]
    hit = {"check_id": "CKV_K8S_40", "resource": "Job.salesync.db-bootstrap"}
    assert suppressed_by(hit, "kubernetes", skips) == 0
    assert (
        suppressed_by({**hit, "resource": "Deployment.salesync.order-stream"}, "kubernetes", skips)
        is None
    )
    assert suppressed_by({**hit, "check_id": "CKV_K8S_41"}, "kubernetes", skips) is None
    assert suppressed_by(hit, "terraform", skips) is None
    assert INLINE_SKIP.search("# checkov:skip=CKV_AWS_18") is not None
    assert INLINE_SKIP.search("# checkov:skip=CKV_AWS_18:").group(3) == ""  # type: ignore[union-attr]
    assert INLINE_SKIP.search("checkov.io/skip1: CKV_K8S_15=why").group(3) == "why"  # type: ignore[union-attr]
