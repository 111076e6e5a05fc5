variable "repositories" {
  description = "Repository (image) names."
  type        = list(string)
}

variable "keep_images" {
  type    = number
  default = 50
}

variable "untagged_expiry_days" {
  type    = number
  default = 7
}
