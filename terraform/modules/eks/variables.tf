variable "name" {
  description = "Cluster name (e.g. salesync-prd)."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
}

variable "private_subnet_ids" {
  description = "Subnets of the nodes and pods."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint; empty = private endpoint only."
  type        = list(string)
  default     = []
}

variable "admin_principal_arns" {
  description = "IAM roles/users granted cluster admin through EKS access entries."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["m6i.large"]
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

variable "node_disk_gib" {
  type    = number
  default = 50
}

variable "log_retention_days" {
  description = "Retention of the control-plane logs."
  type        = number
  default     = 90
}
