# Everything docs/deploying-to-aws.md copies into k8s/overlays/<env> and k8s/argocd/<env>.

output "account_id" {
  value = module.salesync.account_id
}

output "cluster_name" {
  value = module.salesync.cluster_name
}

output "vpc_id" {
  value = module.salesync.vpc_id
}

output "public_cidr_summary" {
  value = module.salesync.public_cidr_summary
}

output "data_cidr_summary" {
  value = module.salesync.data_cidr_summary
}

output "msk_bootstrap_brokers_sasl_scram" {
  value = module.salesync.msk_bootstrap_brokers_sasl_scram
}

output "rds_address" {
  value = module.salesync.rds_address
}

output "rds_master_secret_arn" {
  value = module.salesync.rds_master_secret_arn
}

output "acm_certificate_arn" {
  value = module.salesync.acm_certificate_arn
}

output "api_hostname" {
  value = module.salesync.api_hostname
}

output "dashboard_role_arn" {
  value = module.salesync.dashboard_role_arn
}

output "secrets_reader_role_arn" {
  value = module.salesync.secrets_reader_role_arn
}

output "lb_controller_role_arn" {
  value = module.salesync.lb_controller_role_arn
}

output "fluent_bit_role_arn" {
  value = module.salesync.fluent_bit_role_arn
}

output "application_log_group" {
  value = module.salesync.application_log_group
}

output "kubeconfig_command" {
  value = "aws eks update-kubeconfig --region ${var.region} --name ${module.salesync.cluster_name}"
}
