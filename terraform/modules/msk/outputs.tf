output "bootstrap_brokers_sasl_scram" {
  description = "KAFKA_BOOTSTRAP_SERVERS of the Kafka-using services (SASL/SCRAM over TLS, port 9096)."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "cluster_arn" {
  value = aws_msk_cluster.this.arn
}

output "scram_kms_key_arn" {
  description = "The key the SCRAM secrets are encrypted with (External Secrets must decrypt them)."
  value       = aws_kms_key.scram.arn
}

output "scram_secret_names" {
  description = "Secrets Manager name of each Kafka user's credentials (username, password)."
  value       = { for user, secret in aws_secretsmanager_secret.scram : user => secret.name }
}
