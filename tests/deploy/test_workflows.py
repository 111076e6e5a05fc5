""".github/workflows/: actionlint clean (with shellcheck on every ``run:``), one path-filtered
workflow per service calling the shared pipeline with that service's package, Dockerfile and
image, OIDC instead of stored AWS keys, immutable image tags, the prd overlay bump, and a
repository-wide ``make test`` on pull requests."""

from __future__ import annotations

import re

import pytest

from devstack import deploy_tools, images
from tests.deploy.conftest import REPO, SERVICES, parse_files, require_tool, run

pytestmark = pytest.mark.deploy

WORKFLOWS = REPO / ".github" / "workflows"


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict]:
    files = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
    parsed = parse_files(files)
    out = {}
    for path, docs in parsed.items():
        (doc,) = docs
        # YAML 1.1 reads the key `on` as True.
        if True in doc:
            doc["on"] = doc.pop(True)
        if "true" in doc:
            doc["on"] = doc.pop("true")
        out[path.rsplit("/", 1)[-1]] = doc
    return out


def test_actionlint_passes() -> None:
    actionlint = require_tool("actionlint")
    shellcheck = require_tool("shellcheck")
    proc = run([actionlint, "-shellcheck", shellcheck, "-no-color"])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_has_a_path_filtered_workflow(name: str, workflows: dict[str, dict]) -> None:
    pkg, suffix, image = SERVICES[name]
    wf = workflows[f"{name}.yml"]
    for event in ("push", "pull_request"):
        paths = wf["on"][event]["paths"]
        assert {f"{pkg}/**", "common/**", f"Dockerfile-{suffix}"} <= set(paths), event
        others = {p for p in paths if p.endswith("/**")} - {f"{pkg}/**", "common/**"}
        assert not others, f"{name} runs for other folders too: {others}"
    assert wf["on"]["push"]["branches"] == ["main"]
    assert wf["permissions"] == {"contents": "read"}
    (job,) = wf["jobs"].values()
    assert job["uses"] == "./.github/workflows/_service.yml"
    assert job["with"] == {
        "service": name,
        "package": pkg,
        "dockerfile": f"Dockerfile-{suffix}",
        "image": image,
    }
    assert job["permissions"] == {"contents": "write", "id-token": "write"}
    # devstack.images (what the build step runs) knows the service by the same names.
    assert images.IMAGES[name].name == image
    assert images.IMAGES[name].dockerfile.name == f"Dockerfile-{suffix}"


def test_the_pipeline_builds_pushes_and_bumps_prd_without_stored_keys(
    workflows: dict[str, dict],
) -> None:
    wf = workflows["_service.yml"]
    assert "workflow_call" in wf["on"]
    assert wf["permissions"] == {"contents": "read"}
    jobs = wf["jobs"]
    assert set(jobs) == {"lint-test", "dockerfile-lint", "build-push", "deploy-prd"}

    lint = jobs["lint-test"]
    runs = " ".join(step.get("run", "") for step in lint["steps"])
    assert "ruff check" in runs and "ruff format --check" in runs
    assert 'pytest "$PACKAGE/tests"' in runs
    assert "devstack.postgres start" in runs and "devstack.kafka start" in runs
    assert "hadolint" in " ".join(s.get("run", "") for s in jobs["dockerfile-lint"]["steps"])

    build = jobs["build-push"]
    assert set(build["needs"]) == {"lint-test", "dockerfile-lint"}
    assert "github.event_name != 'pull_request'" in build["if"] and "refs/heads/main" in build["if"]
    assert build["permissions"] == {"contents": "read", "id-token": "write"}
    steps = {s.get("uses", "").split("@")[0]: s for s in build["steps"]}
    creds = steps["aws-actions/configure-aws-credentials"]["with"]
    assert set(creds) == {"role-to-assume", "aws-region"}, "OIDC role, never access keys"
    # The pipeline builds with the same code as `make images` and `make test` (the tag
    # devstack.images computes is the one pushed), on the official base.
    (push,) = [s for s in build["steps"] if "devstack.images build" in s.get("run", "")]
    assert 'python -m devstack.images build "$SERVICE" --base official' in push["run"]
    assert '--registry "$REGISTRY"' in push["run"]
    assert 'docker push "$REGISTRY/$IMAGE:$TAG"' in push["run"]
    assert push["env"]["SERVICE"] == "${{ inputs.service }}"
    assert "docker/build-push-action" not in steps
    meta = next(s for s in build["steps"] if s.get("id") == "meta")["run"]
    assert 'tag="git-${GITHUB_SHA::12}"' in meta, "the tag is derived from the commit"
    assert "describe-images" in meta, "an existing tag is never pushed again"

    deploy = jobs["deploy-prd"]
    assert deploy["needs"] == "build-push"
    assert deploy["permissions"] == {"contents": "write"}
    assert deploy["concurrency"]["cancel-in-progress"] is False
    script = " ".join(s.get("run", "") for s in deploy["steps"])
    assert "cd k8s/overlays/prd && kustomize edit set image" in script
    assert "git push" in script and "git pull --rebase" in script
    _module, version = deploy_tools.GO_TOOLS["kustomize"]
    assert wf["env"]["KUSTOMIZE_VERSION"] == version


def test_no_workflow_uses_stored_cloud_keys_or_unpinned_actions() -> None:
    for path in WORKFLOWS.iterdir():
        text = path.read_text()
        for banned in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "aws-access-key-id"):
            assert banned not in text, f"{path.name}: {banned}"
        assert "secrets.PAT" not in text
        for ref in re.findall(r"uses:\s*([^\s#]+)", text):
            if ref.startswith("./"):
                continue
            _action, _, version = ref.partition("@")
            assert version and version not in {"main", "master", "latest"}, ref


def test_pull_requests_run_make_test(workflows: dict[str, dict]) -> None:
    wf = workflows["ci.yml"]
    assert "pull_request" in wf["on"]
    assert "paths" not in (wf["on"]["pull_request"] or {}), "repository-wide"
    (job,) = wf["jobs"].values()
    assert job["env"]["CI"] == "true"
    assert any(s.get("run", "").startswith("make test") for s in job["steps"])
    uses = {s.get("uses", "").split("@")[0] for s in job["steps"]}
    assert {"actions/setup-python", "actions/setup-go", "actions/setup-java"} <= uses
