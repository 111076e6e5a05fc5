# Development: two zones, one NAT gateway, single-AZ PostgreSQL (7 days of backups), two small
# Kafka brokers. Same layout and CIDRs as prd, so the same NetworkPolicies apply.

module "salesync" {
  source = "../../modules/stack"

  environment              = "dev"
  region                   = var.region
  kubernetes_version       = var.kubernetes_version
  api_hostname             = var.api_hostname
  route53_zone_id          = var.route53_zone_id
  eks_public_access_cidrs  = var.eks_public_access_cidrs
  eks_admin_principal_arns = var.eks_admin_principal_arns

  az_count           = 2
  single_nat_gateway = true

  node_instance_types = ["t3.large"]
  node_min_size       = 2
  node_desired_size   = 2
  node_max_size       = 4

  db_instance_class        = "db.t4g.medium"
  db_multi_az              = false
  db_backup_retention_days = 7
  db_deletion_protection   = false

  kafka_instance_type = "kafka.t3.small"
  log_retention_days  = 14
}
