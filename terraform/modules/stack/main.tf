# One Salesync environment (dev or prd): network, EKS, PostgreSQL, Kafka, Redis, the secrets the pods
# read through the External Secrets Operator, the IRSA roles of the dashboard (SNS), the secrets
# reader, the AWS Load Balancer Controller and Fluent Bit, the log group and the TLS certificate.
# Shared by every environment and created once: terraform/global (ECR, SNS SMS settings, CI role).

data "aws_caller_identity" "current" {}

locals {
  name          = "salesync-${var.environment}"
  secret_prefix = "salesync/${var.environment}"
  db_services   = ["store", "item", "order", "sale", "dashboard", "consulting"]
  # Kafka (SASL/SCRAM) users: every service that uses Kafka, and admin for the Job kafka-topics.
  # Giving a service Kafka access: add it here, and to devstack/kafka.py SERVICE_USERS locally.
  kafka_users = ["item", "order", "sale", "dashboard", "consulting", "admin"]
  account_id  = data.aws_caller_identity.current.account_id
}

module "vpc" {
  source             = "../vpc"
  name               = local.name
  region             = var.region
  cidr_block         = var.vpc_cidr
  az_count           = var.az_count
  single_nat_gateway = var.single_nat_gateway
}

module "eks" {
  source               = "../eks"
  name                 = local.name
  kubernetes_version   = var.kubernetes_version
  private_subnet_ids   = module.vpc.private_subnet_ids
  public_access_cidrs  = var.eks_public_access_cidrs
  admin_principal_arns = var.eks_admin_principal_arns
  node_instance_types  = var.node_instance_types
  node_min_size        = var.node_min_size
  node_desired_size    = var.node_desired_size
  node_max_size        = var.node_max_size
}

module "rds" {
  source                    = "../rds"
  name                      = local.name
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.data_subnet_ids
  allowed_security_group_id = module.eks.cluster_security_group_id
  instance_class            = var.db_instance_class
  multi_az                  = var.db_multi_az
  backup_retention_days     = var.db_backup_retention_days
  deletion_protection       = var.db_deletion_protection
  services                  = local.db_services
  secret_prefix             = local.secret_prefix
}

module "msk" {
  source                    = "../msk"
  name                      = local.name
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.data_subnet_ids
  allowed_security_group_id = module.eks.cluster_security_group_id
  instance_type             = var.kafka_instance_type
  scram_users               = local.kafka_users
  secret_prefix             = local.secret_prefix
}

# Rate-limit counts shared by every pod (RATE_LIMIT_STORAGE_URI in salesync/<env>/redis).
module "redis" {
  source                    = "../redis"
  name                      = local.name
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.data_subnet_ids
  allowed_security_group_id = module.eks.cluster_security_group_id
  node_type                 = var.redis_node_type
  secret_prefix             = local.secret_prefix
}

# ---------------------------------------------------------------------------------------------
# Secrets shared by the services (k8s: ExternalSecrets in k8s/overlays/<env>/external-secrets.yaml)

resource "random_password" "jwt_secret" {
  length  = 64
  special = false
}

resource "random_password" "service_token_secret" {
  length  = 64
  special = false
}

# Key of the staff PIN lookup tags (store service only). Rotating it makes every PIN unknown:
# staff PINs must then be set again.
resource "random_password" "pin_tag_secret" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "shared" {
  name                    = "${local.secret_prefix}/shared"
  description             = "JWT_SECRET and SERVICE_TOKEN_SECRET of every Salesync service; PIN_TAG_SECRET of the store service"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "shared" {
  secret_id = aws_secretsmanager_secret.shared.id
  secret_string = jsonencode({
    JWT_SECRET           = random_password.jwt_secret.result
    SERVICE_TOKEN_SECRET = random_password.service_token_secret.result
    PIN_TAG_SECRET       = random_password.pin_tag_secret.result
  })
}

# Created empty (the consulting service then uses its offline analyst); put the real key with
# `aws secretsmanager put-secret-value` (docs/deploying-to-aws.md). Terraform never overwrites it.
resource "aws_secretsmanager_secret" "openai" {
  name                    = "${local.secret_prefix}/openai"
  description             = "OPENAI_API_KEY of the consulting service (optional)"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "openai" {
  secret_id     = aws_secretsmanager_secret.openai.id
  secret_string = jsonencode({ OPENAI_API_KEY = "" })

  lifecycle {
    ignore_changes = [secret_string]
  }
}

# ---------------------------------------------------------------------------------------------
# Logs: Fluent Bit writes the services' JSON lines here (observability/fluent-bit/values.yaml).

resource "aws_cloudwatch_log_group" "application" {
  name              = "/salesync/${var.environment}/application"
  retention_in_days = var.log_retention_days
}

# ---------------------------------------------------------------------------------------------
# IRSA roles (one service account each, least privilege)

data "aws_iam_policy_document" "dashboard_sms" {
  statement {
    sid       = "SendSmsToPhoneNumbers"
    actions   = ["sns:Publish"]
    resources = ["*"]
  }

  # Publishing to a phone number has no resource ARN; publishing to a topic does: refuse those.
  statement {
    sid       = "NoTopics"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = ["arn:aws:sns:*:*:*"]
  }
}

module "dashboard_role" {
  source            = "../irsa-role"
  name              = "${local.name}-dashboard-sns"
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  namespace         = "salesync"
  service_account   = "dashboard"
  policy_json       = data.aws_iam_policy_document.dashboard_sms.json
}

data "aws_iam_policy_document" "secrets_reader" {
  statement {
    actions = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [
      "arn:aws:secretsmanager:${var.region}:${local.account_id}:secret:${local.secret_prefix}/*",
      "arn:aws:secretsmanager:${var.region}:${local.account_id}:secret:AmazonMSK_${local.secret_prefix}/*",
      module.rds.master_secret_arn,
    ]
  }

  # The Kafka SCRAM secrets are encrypted with the MSK module's own key.
  statement {
    actions   = ["kms:Decrypt"]
    resources = [module.msk.scram_kms_key_arn]
  }
}

module "secrets_reader_role" {
  source            = "../irsa-role"
  name              = "${local.name}-secrets-reader"
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  namespace         = "salesync"
  service_account   = "secrets-reader"
  policy_json       = data.aws_iam_policy_document.secrets_reader.json
}

# The controller's own published policy, for the version the ArgoCD app installs.
data "http" "lb_controller_policy" {
  url = "https://raw.githubusercontent.com/kubernetes-sigs/aws-load-balancer-controller/${var.lb_controller_version}/docs/install/iam_policy.json"

  lifecycle {
    postcondition {
      condition     = self.status_code == 200
      error_message = "Could not fetch the AWS Load Balancer Controller IAM policy."
    }
  }
}

module "lb_controller_role" {
  source            = "../irsa-role"
  name              = "${local.name}-aws-load-balancer-controller"
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  namespace         = "kube-system"
  service_account   = "aws-load-balancer-controller"
  policy_json       = data.http.lb_controller_policy.response_body
}

data "aws_iam_policy_document" "fluent_bit" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.application.arn}:*"]
  }
}

module "fluent_bit_role" {
  source            = "../irsa-role"
  name              = "${local.name}-fluent-bit"
  oidc_provider_arn = module.eks.oidc_provider_arn
  oidc_issuer       = module.eks.oidc_issuer
  namespace         = "logging"
  service_account   = "fluent-bit"
  policy_json       = data.aws_iam_policy_document.fluent_bit.json
}

# ---------------------------------------------------------------------------------------------
# TLS certificate of the public API host (the ALB terminates TLS with it)

resource "aws_acm_certificate" "api" {
  domain_name       = var.api_hostname
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "api_validation" {
  for_each = {
    for option in aws_acm_certificate.api.domain_validation_options : option.domain_name => option
  }
  zone_id = var.route53_zone_id
  name    = each.value.resource_record_name
  type    = each.value.resource_record_type
  records = [each.value.resource_record_value]
  ttl     = 300
}

resource "aws_acm_certificate_validation" "api" {
  certificate_arn         = aws_acm_certificate.api.arn
  validation_record_fqdns = [for record in aws_route53_record.api_validation : record.fqdn]
}
