variable "environment" {
  description = "dev or prd (names: salesync-<environment>, secrets: salesync/<environment>/...)."
  type        = string

  validation {
    condition     = contains(["dev", "prd"], var.environment)
    error_message = "environment must be dev or prd."
  }
}

variable "region" {
  type = string
}

variable "kubernetes_version" {
  type = string
}

variable "vpc_cidr" {
  type    = string
  default = "10.20.0.0/16"
}

variable "az_count" {
  type    = number
  default = 3
}

variable "single_nat_gateway" {
  type    = bool
  default = false
}

variable "eks_public_access_cidrs" {
  type    = list(string)
  default = []
}

variable "eks_admin_principal_arns" {
  type    = list(string)
  default = []
}

variable "node_instance_types" {
  type    = list(string)
  default = ["m6i.large"]
}

variable "node_min_size" {
  type    = number
  default = 2
}

variable "node_desired_size" {
  type    = number
  default = 3
}

variable "node_max_size" {
  type    = number
  default = 6
}

variable "db_instance_class" {
  type    = string
  default = "db.t4g.medium"
}

variable "db_multi_az" {
  type    = bool
  default = true
}

variable "db_backup_retention_days" {
  type    = number
  default = 14
}

variable "db_deletion_protection" {
  type    = bool
  default = true
}

variable "kafka_instance_type" {
  type    = string
  default = "kafka.m7g.large"
}

variable "redis_node_type" {
  type    = string
  default = "cache.t4g.small"
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "lb_controller_version" {
  description = "AWS Load Balancer Controller release whose IAM policy is used (chart 1.11.0 = v2.11.0)."
  type        = string
  default     = "v2.11.0"
}

variable "api_hostname" {
  description = "Public host of the API (the BFF), e.g. api.salesync.example.com."
  type        = string
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of api_hostname (certificate validation)."
  type        = string
}
