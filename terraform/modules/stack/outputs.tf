output "account_id" {
  value = local.account_id
}

output "cluster_name" {
  value = module.eks.cluster_name
}

output "vpc_id" {
  description = "aws-load-balancer-controller vpcId (k8s/argocd/<env>/apps)."
  value       = module.vpc.vpc_id
}

output "public_cidr_summary" {
  value = module.vpc.public_cidr_summary
}

output "data_cidr_summary" {
  value = module.vpc.data_cidr_summary
}

output "msk_bootstrap_brokers_sasl_scram" {
  value = module.msk.bootstrap_brokers_sasl_scram
}

output "redis_url_secret_arn" {
  value = module.redis.url_secret_arn
}

output "rds_address" {
  value = module.rds.address
}

output "rds_master_secret_arn" {
  value = module.rds.master_secret_arn
}

output "acm_certificate_arn" {
  value = aws_acm_certificate_validation.api.certificate_arn
}

output "api_hostname" {
  value = var.api_hostname
}

output "dashboard_role_arn" {
  value = module.dashboard_role.arn
}

output "secrets_reader_role_arn" {
  value = module.secrets_reader_role.arn
}

output "lb_controller_role_arn" {
  value = module.lb_controller_role.arn
}

output "fluent_bit_role_arn" {
  value = module.fluent_bit_role.arn
}

output "application_log_group" {
  value = aws_cloudwatch_log_group.application.name
}
