# Remote state (bucket from terraform/bootstrap, passed with -backend-config="bucket=...").
terraform {
  backend "s3" {
    key          = "global/terraform.tfstate"
    region       = "ap-northeast-1"
    encrypt      = true
    use_lockfile = true
  }
}
