variable "name" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  description = "Data subnets, one per zone."
  type        = list(string)
}

variable "allowed_security_group_id" {
  description = "The EKS cluster security group (nodes and pods)."
  type        = string
}

variable "kafka_version" {
  type    = string
  default = "3.9.x"
}

variable "instance_type" {
  type    = string
  default = "kafka.m7g.large"
}

variable "brokers_per_zone" {
  type    = number
  default = 1
}

variable "volume_size_gib" {
  type    = number
  default = 100
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "scram_users" {
  description = "Kafka users, one secret AmazonMSK_<secret_prefix>/kafka/<user> each: the services that use Kafka and admin."
  type        = list(string)
}

variable "secret_prefix" {
  description = "salesync/<environment>: the secrets are named AmazonMSK_<secret_prefix>/kafka/<user>."
  type        = string
}

variable "secret_recovery_window_days" {
  type    = number
  default = 7
}
