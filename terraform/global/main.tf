# Account-wide pieces shared by dev and prd: an ECR repository per service image, the SNS SMS
# settings, and the role GitHub Actions assumes through OIDC to push images.

locals {
  images = [
    "salesync-bff",
    "salesync-store",
    "salesync-item",
    "salesync-order",
    "salesync-sale",
    "salesync-dash",
    "salesync-consulting",
  ]
}

module "ecr" {
  source       = "../modules/ecr"
  repositories = local.images
}

module "sns_sms" {
  source                  = "../modules/sns-sms"
  monthly_spend_limit_usd = var.sms_monthly_spend_limit_usd
}

module "github_oidc" {
  source            = "../modules/github-oidc"
  github_repository = var.github_repository
  repository_arns   = module.ecr.repository_arns
}
