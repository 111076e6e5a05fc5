# Amazon MSK (Kafka) in the data subnets: TLS between clients and brokers and inside the cluster,
# encryption at rest, reachable only from the EKS nodes/pods, and every client authenticated with
# SASL/SCRAM-SHA-512 (port 9096; no unauthenticated access). One SCRAM user per Kafka-using service
# plus "admin" for the k8s Job kafka-topics: each a Secrets Manager secret named AmazonMSK_...,
# encrypted with a customer-managed KMS key (both required by MSK) and associated with the cluster.
# The pods read their own secret through External Secrets (k8s/overlays/<env>/external-secrets.yaml).
# Topics are created by the k8s Job kafka-topics (auto-creation is off so partitions/replication
# are deliberate).

resource "aws_security_group" "this" {
  name        = "${var.name}-kafka"
  description = "Kafka SASL/SCRAM over TLS from the EKS nodes and pods only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "kafka_sasl_scram" {
  security_group_id            = aws_security_group.this.id
  description                  = "Kafka SASL/SCRAM over TLS from EKS"
  ip_protocol                  = "tcp"
  from_port                    = 9096
  to_port                      = 9096
  referenced_security_group_id = var.allowed_security_group_id
}

# ---------------------------------------------------------------------------------------------
# SCRAM users: MSK reads the secrets associated with the cluster (it refuses secrets encrypted with
# the default aws/secretsmanager key, hence the customer-managed key).

resource "aws_kms_key" "scram" {
  description             = "${var.name}: Kafka SASL/SCRAM credentials (AmazonMSK_ secrets)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
}

resource "aws_kms_alias" "scram" {
  name          = "alias/${var.name}-msk-scram"
  target_key_id = aws_kms_key.scram.key_id
}

resource "random_password" "scram" {
  for_each = toset(var.scram_users)
  length   = 40
  special  = false
}

resource "aws_secretsmanager_secret" "scram" {
  for_each                = toset(var.scram_users)
  name                    = "AmazonMSK_${var.secret_prefix}/kafka/${each.value}"
  description             = "Kafka SASL/SCRAM login of ${each.value} (MSK ${var.name})"
  kms_key_id              = aws_kms_key.scram.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "scram" {
  for_each  = toset(var.scram_users)
  secret_id = aws_secretsmanager_secret.scram[each.value].id
  secret_string = jsonencode({
    username = each.value
    password = random_password.scram[each.value].result
  })
}

resource "aws_msk_configuration" "this" {
  name           = var.name
  kafka_versions = [var.kafka_version]

  server_properties = <<-PROPERTIES
    auto.create.topics.enable=false
    default.replication.factor=${min(3, length(var.subnet_ids))}
    min.insync.replicas=${length(var.subnet_ids) >= 3 ? 2 : 1}
    num.partitions=3
    unclean.leader.election.enable=false
  PROPERTIES
}

resource "aws_cloudwatch_log_group" "broker" {
  name              = "/salesync/${var.name}/msk-broker"
  retention_in_days = var.log_retention_days
}

resource "aws_msk_cluster" "this" {
  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = length(var.subnet_ids) * var.brokers_per_zone

  broker_node_group_info {
    instance_type   = var.instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.this.id]

    storage_info {
      ebs_storage_info {
        volume_size = var.volume_size_gib
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  encryption_info {
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  # kafka-python speaks SASL/SCRAM (not MSK IAM auth): every client logs in as its own user.
  client_authentication {
    unauthenticated = false

    sasl {
      scram = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.broker.name
      }
    }
  }
}

resource "aws_msk_scram_secret_association" "this" {
  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = [for user in var.scram_users : aws_secretsmanager_secret.scram[user].arn]

  depends_on = [aws_secretsmanager_secret_version.scram]
}
