# Account-wide SMS settings for Amazon SNS: transactional texts, a monthly spend cap and delivery
# status logs. The dashboard's least-privilege publish role is per environment (modules/stack).

data "aws_iam_policy_document" "delivery_status_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "delivery_status" {
  statement {
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:PutRetentionPolicy",
    ]
    resources = ["arn:aws:logs:*:*:log-group:sns/*"]
  }
}

resource "aws_iam_role" "delivery_status" {
  name               = "${var.name}-sns-sms-delivery-status"
  assume_role_policy = data.aws_iam_policy_document.delivery_status_assume.json
}

resource "aws_iam_role_policy" "delivery_status" {
  name   = "write-delivery-status"
  role   = aws_iam_role.delivery_status.id
  policy = data.aws_iam_policy_document.delivery_status.json
}

resource "aws_sns_sms_preferences" "this" {
  default_sms_type                      = "Transactional"
  monthly_spend_limit                   = var.monthly_spend_limit_usd
  default_sender_id                     = var.sender_id
  delivery_status_iam_role_arn          = aws_iam_role.delivery_status.arn
  delivery_status_success_sampling_rate = "100"
}
