variable "name" {
  type    = string
  default = "salesync"
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows push images."
  type        = string
}

variable "branch" {
  type    = string
  default = "main"
}

variable "repository_arns" {
  description = "ECR repositories the workflows may push to."
  type        = list(string)
}
