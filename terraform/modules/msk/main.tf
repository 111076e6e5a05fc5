# Amazon MSK (Kafka) in the data subnets: TLS between clients and brokers (port 9094) and inside
# the cluster, encryption at rest, reachable only from the EKS nodes/pods. Topics are created by
# the k8s Job kafka-topics (auto-creation is off so partitions/replication are deliberate).

resource "aws_security_group" "this" {
  name        = "${var.name}-kafka"
  description = "Kafka TLS from the EKS nodes and pods only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "kafka_tls" {
  security_group_id            = aws_security_group.this.id
  description                  = "Kafka TLS from EKS"
  ip_protocol                  = "tcp"
  from_port                    = 9094
  to_port                      = 9094
  referenced_security_group_id = var.allowed_security_group_id
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

  # kafka-python speaks TLS but not MSK IAM auth: TLS transport, access limited by network.
  client_authentication {
    unauthenticated = true
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
