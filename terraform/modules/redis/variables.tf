variable "name" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  description = "Data subnets (no internet route), one per zone."
  type        = list(string)
}

variable "allowed_security_group_id" {
  description = "The EKS cluster security group (nodes and pods)."
  type        = string
}

variable "secret_prefix" {
  description = "salesync/<environment>: the URL is stored as <secret_prefix>/redis."
  type        = string
}

variable "engine_version" {
  type    = string
  default = "7.1"
}

variable "node_type" {
  type    = string
  default = "cache.t4g.small"
}

variable "replicas" {
  description = "Read replicas besides the primary; 1 or more turns on automatic failover (Multi-AZ)."
  type        = number
  default     = 1
}

variable "secret_recovery_window_days" {
  type    = number
  default = 7
}
