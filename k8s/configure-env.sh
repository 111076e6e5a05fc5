#!/bin/sh
# Points one environment's manifests at what Terraform created: writes
#   k8s/overlays/<env>/environment.env      (host, certificate, MSK brokers, IRSA roles, RDS secret)
#   k8s/argocd/<env>/apps/environment.env   (repository URL, VPC id, add-on IRSA roles)
# sets the ECR registry of the overlay's images and the repository URL of the root Application.
# Run it after `terraform apply` (docs/deploying-to-aws.md) and commit the result:
#   k8s/configure-env.sh prd
# Every value may instead come from the environment (same names as in the environment.env files,
# plus ECR_REGISTRY and REPO_URL); Terraform is only asked for the ones that are not set.
set -eu

env=${1:-}
case "$env" in
  dev | prd) ;;
  *)
    echo "usage: $0 dev|prd" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
tf_env="$root/terraform/envs/$env"
tf_global="$root/terraform/global"

# value NAME TERRAFORM_DIR OUTPUT: $NAME if set, else `terraform output -raw OUTPUT`.
value() {
  current=$(printenv "$1" || true)
  if [ -n "$current" ]; then
    printf '%s' "$current"
  else
    terraform -chdir="$2" output -raw "$3"
  fi
}

API_HOSTNAME=$(value API_HOSTNAME "$tf_env" api_hostname)
CERTIFICATE_ARN=$(value CERTIFICATE_ARN "$tf_env" acm_certificate_arn)
KAFKA_BOOTSTRAP_SERVERS=$(value KAFKA_BOOTSTRAP_SERVERS "$tf_env" msk_bootstrap_brokers_sasl_scram)
DASHBOARD_ROLE_ARN=$(value DASHBOARD_ROLE_ARN "$tf_env" dashboard_role_arn)
SECRETS_READER_ROLE_ARN=$(value SECRETS_READER_ROLE_ARN "$tf_env" secrets_reader_role_arn)
RDS_MASTER_SECRET_ARN=$(value RDS_MASTER_SECRET_ARN "$tf_env" rds_master_secret_arn)
VPC_ID=$(value VPC_ID "$tf_env" vpc_id)
LB_CONTROLLER_ROLE_ARN=$(value LB_CONTROLLER_ROLE_ARN "$tf_env" lb_controller_role_arn)
FLUENT_BIT_ROLE_ARN=$(value FLUENT_BIT_ROLE_ARN "$tf_env" fluent_bit_role_arn)
ECR_REGISTRY=$(value ECR_REGISTRY "$tf_global" ecr_registry)
CORS_ORIGINS=${CORS_ORIGINS:-https://pos.${API_HOSTNAME#api.}}
REPO_URL=${REPO_URL:-$(git -C "$root" remote get-url origin)}

overlay="$root/k8s/overlays/$env"
apps="$root/k8s/argocd/$env/apps"

cat > "$overlay/environment.env" << ENV
# Values of the $env environment that come from Terraform. Written by
#   k8s/configure-env.sh $env
# (docs/deploying-to-aws.md); kustomize copies them into the manifests (replacements in
# kustomization.yaml). This file is not deployed (local-config).
API_HOSTNAME=$API_HOSTNAME
CERTIFICATE_ARN=$CERTIFICATE_ARN
CORS_ORIGINS=$CORS_ORIGINS
KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS
DASHBOARD_ROLE_ARN=$DASHBOARD_ROLE_ARN
SECRETS_READER_ROLE_ARN=$SECRETS_READER_ROLE_ARN
RDS_MASTER_SECRET_ARN=$RDS_MASTER_SECRET_ARN
ENV

cat > "$apps/environment.env" << ENV
# Values of the $env cluster's add-ons that come from Terraform and git. Written by
#   k8s/configure-env.sh $env
# (docs/deploying-to-aws.md); copied into the Applications by the replacements in
# kustomization.yaml. Not deployed (local-config).
REPO_URL=$REPO_URL
VPC_ID=$VPC_ID
LB_CONTROLLER_ROLE_ARN=$LB_CONTROLLER_ROLE_ARN
FLUENT_BIT_ROLE_ARN=$FLUENT_BIT_ROLE_ARN
ENV

# rewrite FILE SED_EXPRESSION: sed -i, portably.
rewrite() {
  sed "$2" "$1" > "$1.tmp"
  mv "$1.tmp" "$1"
}

rewrite "$overlay/kustomization.yaml" "s|newName: .*/salesync-|newName: $ECR_REGISTRY/salesync-|"
rewrite "$root/k8s/argocd/$env/root.yaml" "s|repoURL: .*|repoURL: $REPO_URL|"

if command -v kustomize > /dev/null 2>&1; then
  kustomize build "$overlay" > /dev/null
  kustomize build "$apps" > /dev/null
fi
echo "k8s/overlays/$env and k8s/argocd/$env now point at $API_HOSTNAME, $ECR_REGISTRY, $REPO_URL"
