# Production: three zones, a NAT gateway per zone, Multi-AZ PostgreSQL with 14 days of backups and
# deletion protection, three Kafka brokers.

module "salesync" {
  source = "../../modules/stack"

  environment              = "prd"
  region                   = var.region
  kubernetes_version       = var.kubernetes_version
  api_hostname             = var.api_hostname
  route53_zone_id          = var.route53_zone_id
  eks_public_access_cidrs  = var.eks_public_access_cidrs
  eks_admin_principal_arns = var.eks_admin_principal_arns

  az_count           = 3
  single_nat_gateway = false

  node_instance_types = ["m6i.large"]
  node_min_size       = 3
  node_desired_size   = 3
  node_max_size       = 9

  db_instance_class        = "db.m7g.large"
  db_multi_az              = true
  db_backup_retention_days = 14
  db_deletion_protection   = true

  kafka_instance_type = "kafka.m7g.large"
  log_retention_days  = 90
}
