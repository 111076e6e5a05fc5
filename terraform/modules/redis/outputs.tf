output "primary_endpoint_address" {
  value = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "url_secret_arn" {
  description = "Secrets Manager secret holding RATE_LIMIT_STORAGE_URI."
  value       = aws_secretsmanager_secret.url.arn
}
