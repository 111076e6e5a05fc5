variable "region" {
  type    = string
  default = "ap-northeast-1"
}
