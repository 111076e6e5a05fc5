variable "name" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  description = "Data subnets (no internet route)."
  type        = list(string)
}

variable "allowed_security_group_id" {
  description = "The EKS cluster security group (nodes and pods)."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL major version (minor upgrades are automatic)."
  type        = string
  default     = "16"
}

variable "instance_class" {
  type    = string
  default = "db.t4g.medium"
}

variable "database_name" {
  type    = string
  default = "salesync"
}

variable "allocated_storage_gib" {
  type    = number
  default = 20
}

variable "max_allocated_storage_gib" {
  type    = number
  default = 100
}

variable "multi_az" {
  type    = bool
  default = true
}

variable "backup_retention_days" {
  type    = number
  default = 14

  validation {
    condition     = var.backup_retention_days >= 1
    error_message = "Automated backups must stay on (at least one day)."
  }
}

variable "deletion_protection" {
  type    = bool
  default = true
}

variable "services" {
  description = "One login role, schema and secret per service."
  type        = list(string)
}

variable "secret_prefix" {
  description = "Secrets Manager name prefix, e.g. salesync/prd."
  type        = string
}

variable "secret_recovery_window_days" {
  type    = number
  default = 7
}
