variable "region" {
  type    = string
  default = "ap-northeast-1"
}

variable "github_repository" {
  description = "owner/name of this repository on GitHub (its main branch may push images)."
  type        = string
}

variable "sms_monthly_spend_limit_usd" {
  description = "SNS SMS monthly spend cap (USD); above 1 needs a quota increase first."
  type        = number
  default     = 1
}
