# ElastiCache Redis: the rate limits' shared counts (Flask-Limiter storage of the store, dashboard
# and consulting services), so every worker and pod counts together and a deploy resets nothing.
# In the data subnets, reachable only from the EKS nodes/pods, TLS in transit and an auth token
# (clients connect with rediss://), encrypted at rest. Its URL, token included, is stored in
# Secrets Manager as <secret_prefix>/redis (RATE_LIMIT_STORAGE_URI); External Secrets copies it
# into the pods' Secrets. No snapshots: the counts live for minutes.

resource "aws_elasticache_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_security_group" "this" {
  name        = "${var.name}-redis"
  description = "Redis TLS from the EKS nodes and pods only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  security_group_id            = aws_security_group.this.id
  description                  = "Redis TLS from EKS"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = var.allowed_security_group_id
}

# ElastiCache accepts 16-128 printable characters without @, " or /: letters and digits only.
resource "random_password" "auth_token" {
  length  = 64
  special = false
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = var.name
  description          = "Salesync rate-limit counts"
  engine               = "redis"
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = 6379
  num_cache_clusters   = var.replicas + 1

  automatic_failover_enabled = var.replicas > 0
  multi_az_enabled           = var.replicas > 0
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [aws_security_group.this.id]

  transit_encryption_enabled = true
  transit_encryption_mode    = "required"
  auth_token                 = random_password.auth_token.result
  auth_token_update_strategy = "ROTATE"
  at_rest_encryption_enabled = true

  snapshot_retention_limit   = 0
  auto_minor_version_upgrade = true
  maintenance_window         = "sun:19:30-sun:20:30"
  apply_immediately          = false
}

resource "aws_secretsmanager_secret" "url" {
  name                    = "${var.secret_prefix}/redis"
  description             = "RATE_LIMIT_STORAGE_URI (rediss:// with the auth token) of the rate-limited services"
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "url" {
  secret_id = aws_secretsmanager_secret.url.id
  secret_string = jsonencode({
    RATE_LIMIT_STORAGE_URI = "rediss://:${random_password.auth_token.result}@${aws_elasticache_replication_group.this.primary_endpoint_address}:6379/0"
  })
}
