variable "name" {
  description = "Name prefix (e.g. salesync-prd)."
  type        = string
}

variable "region" {
  description = "AWS region (for the S3 gateway endpoint)."
  type        = string
}

variable "cidr_block" {
  description = "VPC CIDR; the k8s NetworkPolicies assume 10.20.0.0/16 (see main.tf)."
  type        = string
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.cidr_block)) && endswith(var.cidr_block, "/16")
    error_message = "cidr_block must be a /16."
  }
}

variable "az_count" {
  description = "Availability zones (2 or 3)."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, for dev) instead of one per zone."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "Retention of the rejected-traffic flow logs."
  type        = number
  default     = 30
}
