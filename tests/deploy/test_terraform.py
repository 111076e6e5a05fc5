"""terraform/: formatted (hclfmt = terraform fmt's formatter; terraform fmt -check too when a CLI
is installed), parsed by python-hcl2, internally consistent (what ``terraform validate`` checks
without provider schemas: references, module inputs and outputs), secure by construction, and
consistent with the k8s manifests (CIDRs, IRSA role names, secret names, images, log group).

Not validated here: provider schemas (``terraform validate``/``plan`` need the AWS provider from the
Terraform registry, which these machines cannot reach)."""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devstack import deploy_tools
from tests.deploy.conftest import OVERLAYS, REPO, SERVICES, parse_files, require_tool, run

pytestmark = pytest.mark.deploy

TF = REPO / "terraform"
TF_FILES = sorted(TF.rglob("*.tf"))
META_ARGS = {"source", "version", "providers", "count", "for_each", "depends_on"}
REF = re.compile(r"(?<![\w.$-])(var|local|module|data)\.(\w+)(?:\.(\w+))?(?:\.(\w+))?")
RESOURCE_REF = re.compile(r"(?<![\w.$-])((?:aws|random|http)_\w+)\.(\w+)")


def _clean(obj: Any) -> Any:
    """python-hcl2 keeps quotes around labels and strings and adds markers: drop both."""
    if isinstance(obj, dict):
        return {_unquote(k): _clean(v) for k, v in obj.items() if not k.startswith("__")}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, str):
        return _unquote(obj)
    return obj


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    return text


@pytest.fixture(scope="module")
def parsed() -> dict[Path, dict]:
    assert TF_FILES, "terraform/ has .tf files"
    raw = parse_files(TF_FILES)
    return {Path(p): _clean(v) for p, v in raw.items()}


class Module:
    """Everything declared in one directory (a root or a module)."""

    def __init__(self, directory: Path, files: list[dict]) -> None:
        self.directory = directory
        self.variables: dict[str, dict] = {}
        self.outputs: dict[str, dict] = {}
        self.locals: dict[str, Any] = {}
        self.modules: dict[str, dict] = {}
        self.resources: dict[str, dict] = {}  # "type.name"
        self.data: dict[str, dict] = {}  # "type.name"
        self.terraform: list[dict] = []
        self.providers: list[dict] = []
        for content in files:
            for block in content.get("variable", []):
                self.variables |= block
            for block in content.get("output", []):
                self.outputs |= block
            for block in content.get("locals", []):
                self.locals |= block
            for block in content.get("module", []):
                self.modules |= block
            for block in content.get("resource", []):
                for rtype, named in block.items():
                    self.resources |= {f"{rtype}.{n}": body for n, body in named.items()}
            for block in content.get("data", []):
                for dtype, named in block.items():
                    self.data |= {f"{dtype}.{n}": body for n, body in named.items()}
            self.terraform += content.get("terraform", [])
            self.providers += content.get("provider", [])

    def all_bodies(self) -> list[Any]:
        return [
            self.variables,
            self.outputs,
            self.locals,
            self.modules,
            self.resources,
            self.data,
            self.terraform,
            self.providers,
        ]


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return [obj] if isinstance(obj, str) else []


@pytest.fixture(scope="module")
def modules(parsed: dict[Path, dict]) -> dict[Path, Module]:
    by_dir: dict[Path, list[dict]] = defaultdict(list)
    for path, content in parsed.items():
        by_dir[path.parent].append(content)
    return {d: Module(d, files) for d, files in by_dir.items()}


# ---------------------------------------------------------------------------------------------
# Formatting and syntax


def test_hclfmt_finds_every_file_formatted() -> None:
    hclfmt = require_tool("hclfmt")
    unformatted = []
    for path in TF_FILES:
        proc = run([hclfmt, "-require-no-change", path])
        if proc.returncode != 0:
            unformatted.append(f"{path.relative_to(REPO)}: {proc.stderr.strip()}")
    assert not unformatted, "run `hclfmt -w` (or `terraform fmt`) on:\n" + "\n".join(unformatted)


def test_terraform_fmt_check_when_terraform_is_installed() -> None:
    terraform = deploy_tools.optional_terraform()
    if terraform is None:
        pytest.skip(
            "no Terraform CLI here (not installable from the reachable registries); "
            "hclfmt above checks the same formatting"
        )
    proc = run([terraform, "fmt", "-check", "-recursive", "-diff", TF])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_file_parses(parsed: dict[Path, dict]) -> None:
    assert set(parsed) == set(TF_FILES)


# ---------------------------------------------------------------------------------------------
# What `terraform validate` would check without provider schemas


def test_references_resolve(modules: dict[Path, Module]) -> None:
    problems = []
    for directory, mod in modules.items():
        where = directory.relative_to(REPO)
        for text in (s for body in mod.all_bodies() for s in _strings(body)):
            for kind, name, attr, _third in REF.findall(text):
                if kind == "var" and name not in mod.variables:
                    problems.append(f"{where}: var.{name} is not declared")
                elif kind == "local" and name not in mod.locals:
                    problems.append(f"{where}: local.{name} is not declared")
                elif kind == "data" and f"{name}.{attr}" not in mod.data:
                    problems.append(f"{where}: data.{name}.{attr} is not declared")
                elif kind == "module":
                    if name not in mod.modules:
                        problems.append(f"{where}: module.{name} is not declared")
                        continue
                    target = (directory / mod.modules[name]["source"]).resolve()
                    if attr and attr not in modules[target].outputs:
                        problems.append(f"{where}: module.{name}.{attr}: no such output")
            for rtype, name in RESOURCE_REF.findall(text):
                if f"{rtype}.{name}" not in mod.resources and not text.startswith(rtype):
                    problems.append(f"{where}: {rtype}.{name} is not declared")
    assert not problems, "\n".join(sorted(set(problems)))


def test_module_calls_match_module_variables(modules: dict[Path, Module]) -> None:
    problems = []
    for directory, mod in modules.items():
        for call, args in mod.modules.items():
            source = args["source"]
            assert source.startswith("../"), f"{call}: local modules only ({source})"
            target = (directory / source).resolve()
            assert target in modules, f"{directory}: module {call} source {source} not found"
            declared = modules[target].variables
            passed = set(args) - META_ARGS
            for extra in sorted(passed - set(declared)):
                problems.append(f"{directory.name}: module {call} passes unknown {extra}")
            for name, spec in declared.items():
                if "default" not in spec and name not in passed:
                    problems.append(f"{directory.name}: module {call} misses required {name}")
    assert not problems, "\n".join(problems)


def test_every_module_declares_pinned_providers(modules: dict[Path, Module]) -> None:
    for directory, mod in modules.items():
        providers = {
            name: spec
            for block in mod.terraform
            for req in block.get("required_providers", [])
            for name, spec in req.items()
        }
        used = {key.split(".")[0].split("_")[0] for key in [*mod.resources, *mod.data]}
        assert used <= set(providers), f"{directory}: providers {used - set(providers)} undeclared"
        for name, spec in providers.items():
            assert spec["source"] == f"hashicorp/{name}"
            assert "<" in spec["version"], f"{directory}: cap {name}'s major version"


def test_roots_use_the_s3_backend_with_locking(modules: dict[Path, Module]) -> None:
    roots = [TF / "global", *(TF / "envs" / env for env in OVERLAYS)]
    for root in roots:
        terraform_blocks = modules[root].terraform
        backends = [be for b in terraform_blocks for be in b.get("backend", [])]
        assert len(backends) == 1, root
        s3 = backends[0]["s3"]
        assert s3["encrypt"] is True and s3["use_lockfile"] is True, root
        assert "bucket" not in s3, "the bucket is passed with -backend-config (per account)"
        assert s3["key"].endswith("terraform.tfstate")
        required = [b["required_version"] for b in terraform_blocks if "required_version" in b]
        assert required == [">= 1.10.0"], "S3 lock files need Terraform 1.10"


# ---------------------------------------------------------------------------------------------
# Security properties


def _resources(modules: dict[Path, Module], rtype: str) -> list[dict]:
    return [
        body
        for mod in modules.values()
        for key, body in mod.resources.items()
        if key.split(".")[0] == rtype
    ]


def _block(body: dict, name: str) -> dict:
    (value,) = body[name]
    return value


def test_no_long_lived_credentials(modules: dict[Path, Module]) -> None:
    kinds = {key.split(".")[0] for mod in modules.values() for key in mod.resources}
    assert not kinds & {"aws_iam_access_key", "aws_iam_user", "aws_iam_user_policy"}
    for path in TF_FILES:
        text = path.read_text()
        assert not re.search(r"\bAKIA[0-9A-Z]{16}\b", text), path
        assert "secret_key" not in text and "access_key" not in text, path


def test_rds_is_private_encrypted_backed_up_with_a_managed_password(
    modules: dict[Path, Module],
) -> None:
    (db,) = _resources(modules, "aws_db_instance")
    assert db["publicly_accessible"] is False
    assert db["storage_encrypted"] is True
    assert db["manage_master_user_password"] is True
    assert "password" not in db
    assert db["skip_final_snapshot"] is False
    assert db["backup_retention_period"] == "${var.backup_retention_days}"
    rds = modules[TF / "modules" / "rds"]
    (validation,) = rds.variables["backup_retention_days"]["validation"]
    assert ">= 1" in validation["condition"]
    (params,) = _resources(modules, "aws_db_parameter_group")
    assert {"name": "rds.force_ssl", "value": "1"} in params["parameter"]
    (subnets,) = _resources(modules, "aws_db_subnet_group")
    assert subnets["subnet_ids"] == "${var.subnet_ids}"
    stack = modules[TF / "modules" / "stack"]
    assert stack.modules["rds"]["subnet_ids"] == "${module.vpc.data_subnet_ids}"


def test_msk_requires_tls_and_a_scram_login_from_every_client(modules: dict[Path, Module]) -> None:
    (msk,) = _resources(modules, "aws_msk_cluster")
    transit = _block(_block(msk, "encryption_info"), "encryption_in_transit")
    assert transit == {"client_broker": "TLS", "in_cluster": True}
    auth = _block(msk, "client_authentication")
    assert auth["unauthenticated"] is False, "no anonymous client may write a topic"
    assert _block(auth, "sasl") == {"scram": True}
    stack = modules[TF / "modules" / "stack"]
    assert stack.modules["msk"]["subnet_ids"] == "${module.vpc.data_subnet_ids}"
    rules = _resources(modules, "aws_vpc_security_group_ingress_rule")
    kafka = [r for r in rules if r["from_port"] in (9092, 9094, 9096, 9098)]
    assert [(r["from_port"], r["to_port"]) for r in kafka] == [(9096, 9096)], "SASL/SCRAM only"
    assert all("cidr_ipv4" not in r for r in kafka), "only from the EKS security group"


def test_scram_users_are_kms_encrypted_secrets_associated_with_the_cluster(
    modules: dict[Path, Module],
) -> None:
    msk = modules[TF / "modules" / "msk"]
    secret = msk.resources["aws_secretsmanager_secret.scram"]
    assert secret["for_each"] == "${toset(var.scram_users)}"
    # MSK only reads secrets named AmazonMSK_* and encrypted with a customer-managed key.
    assert secret["name"] == "AmazonMSK_${var.secret_prefix}/kafka/${each.value}"
    assert secret["kms_key_id"] == "${aws_kms_key.scram.arn}"
    key = msk.resources["aws_kms_key.scram"]
    assert key["enable_key_rotation"] is True
    version = msk.resources["aws_secretsmanager_secret_version.scram"]
    assert "username = each.value" in version["secret_string"].replace("\n", " ")
    assert "random_password.scram[each.value].result" in version["secret_string"]
    association = msk.resources["aws_msk_scram_secret_association.this"]
    assert association["cluster_arn"] == "${aws_msk_cluster.this.arn}"
    assert "aws_secretsmanager_secret.scram[user].arn" in association["secret_arn_list"]
    assert "var.scram_users" in association["secret_arn_list"]
    stack = modules[TF / "modules" / "stack"]
    assert stack.modules["msk"]["scram_users"] == "${local.kafka_users}"
    assert stack.modules["msk"]["secret_prefix"] == "${local.secret_prefix}"
    # External Secrets (the secrets-reader role) can read and decrypt exactly those secrets.
    statements = stack.data["aws_iam_policy_document.secrets_reader"]["statement"]
    readable = {
        r
        for s in statements
        if "secretsmanager:GetSecretValue" in s["actions"]
        for r in s["resources"]
    }
    assert (
        "arn:aws:secretsmanager:${var.region}:${local.account_id}:secret:"
        "AmazonMSK_${local.secret_prefix}/*"
    ) in readable
    decrypt = [s for s in statements if s["actions"] == ["kms:Decrypt"]]
    assert decrypt and decrypt[0]["resources"] == ["${module.msk.scram_kms_key_arn}"]


def test_kafka_users_match_the_manifests_and_the_devstack(
    modules: dict[Path, Module], rendered_docs: Callable[[str], list[dict]]
) -> None:
    from devstack import kafka as devstack_kafka

    users = set(modules[TF / "modules" / "stack"].locals["kafka_users"])
    assert users == {*devstack_kafka.SERVICE_USERS, devstack_kafka.ADMIN_USER}
    for env in OVERLAYS:
        docs = rendered_docs(f"k8s/overlays/{env}")
        referenced = {
            item["remoteRef"]["key"].removeprefix(f"AmazonMSK_salesync/{env}/kafka/")
            for d in docs
            if d["kind"] == "ExternalSecret"
            for item in d["spec"]["data"]
            if item["remoteRef"]["key"].startswith("AmazonMSK_")
        }
        assert referenced == users, env


def test_redis_is_private_with_tls_and_an_auth_token(modules: dict[Path, Module]) -> None:
    (group,) = _resources(modules, "aws_elasticache_replication_group")
    assert group["transit_encryption_enabled"] is True
    assert group["transit_encryption_mode"] == "required"
    assert group["at_rest_encryption_enabled"] is True
    assert group["auth_token"] == "${random_password.auth_token.result}"
    (subnets,) = _resources(modules, "aws_elasticache_subnet_group")
    assert subnets["subnet_ids"] == "${var.subnet_ids}"
    stack = modules[TF / "modules" / "stack"]
    assert stack.modules["redis"]["subnet_ids"] == "${module.vpc.data_subnet_ids}"
    rules = _resources(modules, "aws_vpc_security_group_ingress_rule")
    redis = [r for r in rules if r["from_port"] == 6379]
    assert redis and all("cidr_ipv4" not in r for r in redis), "only from the EKS security group"
    redis_module = modules[TF / "modules" / "redis"]
    secret = redis_module.resources["aws_secretsmanager_secret.url"]
    assert secret["name"] == "${var.secret_prefix}/redis"
    url = redis_module.resources["aws_secretsmanager_secret_version.url"]["secret_string"]
    assert 'RATE_LIMIT_STORAGE_URI = "rediss://:' in url, "TLS (rediss://) with the token"


def test_ecr_scans_on_push_with_immutable_tags_and_a_lifecycle(
    modules: dict[Path, Module],
) -> None:
    (repo,) = _resources(modules, "aws_ecr_repository")
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert _block(repo, "image_scanning_configuration") == {"scan_on_push": True}
    assert _resources(modules, "aws_ecr_lifecycle_policy")
    images = modules[TF / "global"].locals["images"]
    assert sorted(images) == sorted(image for _p, _s, image in SERVICES.values())


def test_eks_managed_node_group_irsa_and_network_policies(modules: dict[Path, Module]) -> None:
    eks = modules[TF / "modules" / "eks"]
    assert "aws_eks_node_group.default" in eks.resources
    assert "aws_iam_openid_connect_provider.this" in eks.resources
    cni = eks.resources["aws_eks_addon.vpc_cni"]
    assert "enableNetworkPolicy" in cni["configuration_values"]
    metadata = _block(eks.resources["aws_launch_template.node"], "metadata_options")
    assert metadata["http_tokens"] == "required"
    assert metadata["http_put_response_hop_limit"] == 1, "pods must not use the node's role"
    cluster = eks.resources["aws_eks_cluster.this"]
    assert _block(cluster, "vpc_config")["endpoint_private_access"] is True
    assert _block(cluster, "encryption_config")["resources"] == ["secrets"]


def test_irsa_roles_are_bound_to_one_service_account(modules: dict[Path, Module]) -> None:
    irsa = modules[TF / "modules" / "irsa-role"]
    statement = irsa.data["aws_iam_policy_document.assume"]["statement"][0]
    conditions = {c["variable"]: c["values"] for c in statement["condition"]}
    assert conditions["${var.oidc_issuer}:sub"] == [
        "system:serviceaccount:${var.namespace}:${var.service_account}"
    ]
    assert conditions["${var.oidc_issuer}:aud"] == ["sts.amazonaws.com"]


def test_dashboard_may_only_send_sms(modules: dict[Path, Module]) -> None:
    stack = modules[TF / "modules" / "stack"]
    doc = stack.data["aws_iam_policy_document.dashboard_sms"]
    statements = doc["statement"]
    actions = {a for s in statements for a in s["actions"]}
    assert actions == {"sns:Publish"}
    deny = [s for s in statements if s.get("effect") == "Deny"]
    assert deny and deny[0]["resources"] == ["arn:aws:sns:*:*:*"], "no publishing to topics"
    call = stack.modules["dashboard_role"]
    assert (call["namespace"], call["service_account"]) == ("salesync", "dashboard")
    (prefs,) = _resources(modules, "aws_sns_sms_preferences")
    assert prefs["default_sms_type"] == "Transactional"
    assert "monthly_spend_limit" in prefs


def test_github_actions_role_trusts_only_this_repository_main_branch(
    modules: dict[Path, Module],
) -> None:
    gh = modules[TF / "modules" / "github-oidc"]
    statement = gh.data["aws_iam_policy_document.assume"]["statement"][0]
    conditions = {c["variable"]: (c["test"], c["values"]) for c in statement["condition"]}
    assert conditions["token.actions.githubusercontent.com:sub"] == (
        "StringEquals",
        ["repo:${var.github_repository}:ref:refs/heads/${var.branch}"],
    )
    push = gh.data["aws_iam_policy_document.ecr_push"]["statement"]
    wildcard = [s for s in push if s["resources"] == ["*"]]
    assert [a for s in wildcard for a in s["actions"]] == ["ecr:GetAuthorizationToken"]


# ---------------------------------------------------------------------------------------------
# Consistency with k8s/ and observability/


def _cidrsubnet(prefix: str, newbits: int, netnum: int) -> str:
    network = ipaddress.ip_network(prefix)
    return str(list(network.subnets(prefixlen_diff=newbits))[netnum])


def test_network_policy_cidrs_match_the_vpc_layout(
    modules: dict[Path, Module], rendered_docs: Callable[[str], list[dict]]
) -> None:
    vpc = modules[TF / "modules" / "vpc"]
    cidr = vpc.variables["cidr_block"]["default"]
    stack = modules[TF / "modules" / "stack"]
    assert stack.variables["vpc_cidr"]["default"] == cidr
    assert vpc.locals["public_summary"] == "${cidrsubnet(var.cidr_block, 6, 0)}"
    assert vpc.locals["data_summary"] == "${cidrsubnet(var.cidr_block, 5, 2)}"
    public, data = _cidrsubnet(cidr, 6, 0), _cidrsubnet(cidr, 5, 2)
    for i in range(3):
        assert ipaddress.ip_network(_cidrsubnet(cidr, 8, i)).subnet_of(ipaddress.ip_network(public))
        assert ipaddress.ip_network(_cidrsubnet(cidr, 8, 16 + i)).subnet_of(
            ipaddress.ip_network(data)
        )
        private = ipaddress.ip_network(_cidrsubnet(cidr, 4, 4 + i))
        assert not private.overlaps(ipaddress.ip_network(public))
        assert not private.overlaps(ipaddress.ip_network(data))
    for overlay in OVERLAYS:
        docs = rendered_docs(f"k8s/overlays/{overlay}")
        blocks = {
            peer["ipBlock"]["cidr"]
            for d in docs
            if d["kind"] == "NetworkPolicy"
            for rule in d["spec"].get("ingress", []) + d["spec"].get("egress", [])
            for peer in rule.get("from", []) + rule.get("to", [])
            if "ipBlock" in peer
        }
        assert blocks == {public, data, "0.0.0.0/0"}, blocks


def test_irsa_role_names_match_the_manifests(
    modules: dict[Path, Module], rendered_docs: Callable[[str], list[dict]]
) -> None:
    stack = modules[TF / "modules" / "stack"]
    names = {
        call["name"].replace("${local.name}", "salesync-{env}"): (
            call["namespace"],
            call["service_account"],
        )
        for call in stack.modules.values()
        if "service_account" in call
    }
    for env in OVERLAYS:
        wanted = {name.format(env=env): sa for name, sa in names.items()}
        found: dict[str, tuple[str, str]] = {}
        for rel in (f"k8s/overlays/{env}", f"k8s/argocd/{env}/apps"):
            for doc in rendered_docs(rel):
                for arn in re.findall(r"arn:aws:iam::\d+:role/([\w-]+)", str(doc)):
                    found[arn] = doc["metadata"]["name"]
        assert set(wanted) == set(found), (wanted, found)
        overlay = rendered_docs(f"k8s/overlays/{env}")
        accounts = {d["metadata"]["name"]: d for d in overlay if d["kind"] == "ServiceAccount"}
        for role, (namespace, sa) in wanted.items():
            if namespace == "salesync":
                annotation = accounts[sa]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
                assert annotation.endswith(f":role/{role}")


def test_secret_names_match_the_external_secrets(
    modules: dict[Path, Module], rendered_docs: Callable[[str], list[dict]]
) -> None:
    text = "\n".join(p.read_text() for p in (TF / "modules").rglob("*.tf"))
    for env in OVERLAYS:
        docs = rendered_docs(f"k8s/overlays/{env}")
        for es in (d for d in docs if d["kind"] == "ExternalSecret"):
            for item in es["spec"]["data"]:
                key, prop = item["remoteRef"]["key"], item["remoteRef"]["property"]
                if key.startswith("arn:aws:secretsmanager:"):
                    assert ":secret:rds!" in key, "only the RDS-managed master secret by ARN"
                    assert prop in {"username", "password"}
                    continue
                if key.startswith("AmazonMSK_"):
                    assert key.startswith(f"AmazonMSK_salesync/{env}/kafka/"), key
                    assert prop in {"username", "password"}
                    continue
                suffix = key.removeprefix(f"salesync/{env}/")
                assert suffix != key, key
                assert suffix.split("/")[0] in {"db", "shared", "openai", "redis"}, key
                assert re.search(rf"\b{re.escape(prop)}\s*=", text), f"{key}: no {prop} written"
    rds = modules[TF / "modules" / "rds"]
    assert rds.resources["aws_secretsmanager_secret.service"]["name"] == (
        "${var.secret_prefix}/db/${each.value}"
    )
    stack = modules[TF / "modules" / "stack"]
    assert stack.locals["secret_prefix"] == "salesync/${var.environment}"
    assert sorted(stack.locals["db_services"]) == sorted(n for n in SERVICES if n != "bff")


def test_log_group_matches_fluent_bit() -> None:
    stack = (TF / "modules" / "stack" / "main.tf").read_text()
    values = (REPO / "observability" / "fluent-bit" / "values.yaml").read_text()
    assert 'name              = "/salesync/${var.environment}/application"' in stack
    assert "/salesync/${SALESYNC_ENVIRONMENT}/application" in values
