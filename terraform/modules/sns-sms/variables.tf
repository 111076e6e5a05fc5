variable "name" {
  type    = string
  default = "salesync"
}

variable "monthly_spend_limit_usd" {
  description = "Monthly SMS spend cap in USD (raise the account quota first for more than 1)."
  type        = number
  default     = 1
}

variable "sender_id" {
  description = "Alphanumeric sender id where the destination country supports it."
  type        = string
  default     = "Salesync"
}
