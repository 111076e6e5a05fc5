output "bootstrap_brokers_tls" {
  description = "KAFKA_BOOTSTRAP_SERVERS for the dashboard and consulting services (port 9094)."
  value       = aws_msk_cluster.this.bootstrap_brokers_tls
}

output "cluster_arn" {
  value = aws_msk_cluster.this.arn
}
