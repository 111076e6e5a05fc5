output "ecr_registry" {
  description = "Repository variable ECR_REGISTRY of the GitHub workflows and the overlays' images."
  value       = module.ecr.registry
}

output "ecr_repository_urls" {
  value = module.ecr.repository_urls
}

output "github_actions_role_arn" {
  description = "Repository variable AWS_ROLE_ARN of the GitHub workflows."
  value       = module.github_oidc.role_arn
}
