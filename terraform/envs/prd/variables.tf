variable "region" {
  type    = string
  default = "ap-northeast-1"
}

variable "kubernetes_version" {
  description = "EKS version; tests/deploy validates the manifests against the same version."
  type        = string
  default     = "1.34"
}

variable "api_hostname" {
  description = "Public API host (the BFF), in the Route 53 zone below."
  type        = string
}

variable "route53_zone_id" {
  description = "Hosted zone of api_hostname."
  type        = string
}

variable "eks_public_access_cidrs" {
  description = "Who may reach the EKS API from the internet (your office/VPN); [] = private only."
  type        = list(string)
  default     = []
}

variable "eks_admin_principal_arns" {
  description = "IAM roles/users that administer the cluster besides its creator."
  type        = list(string)
  default     = []
}
