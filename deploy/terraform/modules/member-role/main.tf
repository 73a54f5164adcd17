# The role keycycle's hub assumes in an account: the member policy, and nothing else. It has no
# iam:Put*, iam:Attach*, iam:Create* but CreateAccessKey, nor iam:PassRole: it cannot grant
# itself or anyone more than it has.
resource "aws_iam_role" "member" {
  name                 = var.role_name
  description          = "keycycle: rotates IAM user credentials in this account, assumed by the keycycle function"
  max_session_duration = 3600
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "KeycycleHub"
      Effect    = "Allow"
      Principal = { AWS = var.hub_role_arn }
      Action    = "sts:AssumeRole"
      Condition = var.external_id == null ? {} : { StringEquals = { "sts:ExternalId" = var.external_id } }
    }]
  })
}

resource "aws_iam_role_policy" "member" {
  name   = "keycycle-member"
  role   = aws_iam_role.member.id
  policy = var.member_policy_json
}
