# Remote state in the S3 bucket made by terraform/bootstrap, locked with S3's native lock file
# (Terraform >= 1.10; no DynamoDB table). The bucket name is passed at init time:
#   terraform init -backend-config="bucket=$(terraform -chdir=../../bootstrap output -raw state_bucket)"
terraform {
  backend "s3" {
    key          = "envs/prd/terraform.tfstate"
    region       = "ap-northeast-1"
    encrypt      = true
    use_lockfile = true
  }
}
