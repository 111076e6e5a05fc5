output "delivery_status_role_arn" {
  value = aws_iam_role.delivery_status.arn
}
