output "address" {
  value = aws_db_instance.this.address
}

output "port" {
  value = aws_db_instance.this.port
}

output "master_secret_arn" {
  description = "RDS-managed secret with the master username/password (db-bootstrap reads it)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "service_secret_arns" {
  value = { for name, secret in aws_secretsmanager_secret.service : name => secret.arn }
}

output "admin_secret_arn" {
  value = aws_secretsmanager_secret.admin.arn
}
