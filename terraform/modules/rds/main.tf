# PostgreSQL on RDS: private (data subnets, reachable only from the EKS nodes/pods), encrypted,
# automated backups, TLS enforced. The master password is generated and rotated by RDS in
# Secrets Manager (manage_master_user_password): it never appears in Terraform state.
# Each service gets its own login role; its password and DATABASE_URL are stored in
# Secrets Manager as salesync/<env>/db/<service> and the k8s Job db-bootstrap creates the roles.

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
}

resource "aws_security_group" "this" {
  name        = "${var.name}-postgres"
  description = "PostgreSQL from the EKS nodes and pods only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL from EKS"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = var.allowed_security_group_id
}

resource "aws_db_parameter_group" "this" {
  name   = "${var.name}-postgres16"
  family = "postgres16"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
}

resource "aws_db_instance" "this" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class

  db_name                     = var.database_name
  username                    = "salesync_admin"
  manage_master_user_password = true

  allocated_storage     = var.allocated_storage_gib
  max_allocated_storage = var.max_allocated_storage_gib
  storage_type          = "gp3"
  storage_encrypted     = true

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.this.id]
  parameter_group_name   = aws_db_parameter_group.this.name
  publicly_accessible    = false
  multi_az               = var.multi_az
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  backup_retention_period   = var.backup_retention_days
  backup_window             = "17:00-18:00"
  maintenance_window        = "sun:18:30-sun:19:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"

  auto_minor_version_upgrade      = true
  performance_insights_enabled    = true
  enabled_cloudwatch_logs_exports = ["postgresql"]
}

resource "random_password" "service" {
  for_each = toset(var.services)
  length   = 40
  special  = false
}

resource "aws_secretsmanager_secret" "service" {
  for_each                = toset(var.services)
  name                    = "${var.secret_prefix}/db/${each.value}"
  description             = "PostgreSQL login of the ${each.value} service (role and schema ${each.value})"
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "service" {
  for_each  = toset(var.services)
  secret_id = aws_secretsmanager_secret.service[each.value].id
  secret_string = jsonencode({
    username     = each.value
    password     = random_password.service[each.value].result
    DATABASE_URL = "postgresql://${each.value}:${random_password.service[each.value].result}@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${var.database_name}?sslmode=require"
  })
}

resource "aws_secretsmanager_secret" "admin" {
  name                    = "${var.secret_prefix}/db/admin"
  description             = "Where the database is, for the db-bootstrap Job (the password is in the RDS-managed secret)"
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "admin" {
  secret_id = aws_secretsmanager_secret.admin.id
  secret_string = jsonencode({
    host              = aws_db_instance.this.address
    port              = tostring(aws_db_instance.this.port)
    dbname            = var.database_name
    master_secret_arn = aws_db_instance.this.master_user_secret[0].secret_arn
  })
}
