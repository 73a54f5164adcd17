# The IAM policies of the hub (this function's role) and of the member roles, statement for
# statement what `keycycle policy` prints for the configuration in local.config:
#
#   keycycle policy --config keycycle.yaml --role member --region <region>
#   keycycle policy --config keycycle.yaml --role hub --region <region> --account <account> \
#     --name <name> --member-role <member_role_name> --discovery <organization|ous|accounts>
#
# internal/iampolicy declares the actions; deploy/deploy_test.go evaluates these locals with
# sample inputs and fails when they differ from keycycle's output.

locals {
  # Fill a name template's placeholders with wildcards, as keycycle does.
  secret_patterns = distinct(concat(
    [replace(replace(var.secret_name_template, "/\\{\\{[a-z]+\\}\\}/", "*"), "/\\*+/", "*")],
    var.aws_login_profile_time_limit == 0 ? [] : [replace(replace(var.password_secret_name_template, "/\\{\\{[a-z]+\\}\\}/", "*"), "/\\*+/", "*")],
  ))
  parameter_patterns = var.ssm_parameter_template == null ? [] : distinct(concat(
    [replace(replace(var.ssm_parameter_template, "/\\{\\{[a-z]+\\}\\}/", "*"), "/\\*+/", "*")],
    var.aws_login_profile_time_limit == 0 ? [] : [replace(replace(var.password_parameter_template, "/\\{\\{[a-z]+\\}\\}/", "*"), "/\\*+/", "*")],
  ))

  user_arns       = contains(var.include_paths, "/") ? ["arn:${local.partition}:iam::*:user/*"] : distinct([for p in var.include_paths : "arn:${local.partition}:iam::*:user${p}*"])
  secret_arns     = [for p in local.secret_patterns : "arn:${local.partition}:secretsmanager:${local.region}:*:secret:${endswith(p, "*") ? p : "${p}-??????"}"]
  parameter_arns  = [for p in local.parameter_patterns : "arn:${local.partition}:ssm:${local.region}:*:parameter/${trimprefix(p, "/")}"]
  function_arns   = var.handler_function == null ? [] : [startswith(var.handler_function, "arn:") ? var.handler_function : "arn:${local.partition}:lambda:${local.region}:*:function:${var.handler_function}"]
  ses_identities  = var.aws_ses_email_from == null ? [] : ["arn:${local.partition}:ses:${local.region}:*:identity/${var.aws_ses_email_from}", "arn:${local.partition}:ses:${local.region}:*:identity/${split("@", var.aws_ses_email_from)[1]}"]
  discovery       = length(var.accounts) > 0 ? "accounts" : (length(var.organizational_units) > 0 ? "ous" : "organization")
  users_statement = { Effect = "Allow", Resource = local.user_arns }

  member_statements = concat(
    [
      { Sid = "ScanAccount", Effect = "Allow", Resource = ["*"], Action = ["iam:GenerateCredentialReport", "iam:GetAccountAuthorizationDetails", "iam:GetCredentialReport", "iam:ListAccountAliases"] },
      merge(local.users_statement, { Sid = "ReadUsers", Action = ["iam:GetAccessKeyLastUsed", "iam:GetLoginProfile", "iam:GetUser", "iam:ListAccessKeys", "iam:ListGroupsForUser"] }),
      merge(local.users_statement, { Sid = "RotateKeys", Action = ["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:UpdateAccessKey"] }),
    ],
    var.aws_login_profile_time_limit == 0 ? [] : [
      merge(local.users_statement, { Sid = "RotatePasswords", Action = ["iam:UpdateLoginProfile"] }),
      { Sid = "ReadPasswordPolicy", Effect = "Allow", Resource = ["*"], Action = ["iam:GetAccountPasswordPolicy"] },
    ],
    var.console_unused_after_days == 0 ? [] : [
      merge(local.users_statement, { Sid = "RemoveUnusedConsoleAccess", Action = ["iam:DeleteLoginProfile"] }),
    ],
    [
      merge(local.users_statement, {
        Sid       = "RecordState"
        Action    = ["iam:TagUser", "iam:UntagUser"]
        Condition = { "ForAllValues:StringLike" = { "aws:TagKeys" = ["keycycle:*"] } }
      }),
      {
        Sid      = "SecretsManagerSink"
        Effect   = "Allow"
        Resource = local.secret_arns
        Action = ["secretsmanager:CreateSecret", "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutResourcePolicy",
        "secretsmanager:PutSecretValue", "secretsmanager:TagResource", "secretsmanager:UpdateSecretVersionStage"]
      },
    ],
    local.kms_key_arn == null ? [] : [{
      Sid       = "SecretsManagerKey"
      Effect    = "Allow"
      Resource  = [local.kms_key_arn]
      Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
      Condition = { StringLike = { "kms:ViaService" = ["secretsmanager.${local.region}.amazonaws.com"] } }
    }],
    var.ssm_parameter_template == null ? [] : [{
      Sid      = "ParameterStoreSink"
      Effect   = "Allow"
      Resource = local.parameter_arns
      Action   = ["ssm:DeleteParameter", "ssm:GetParameter", "ssm:GetParameterHistory", "ssm:PutParameter"]
    }],
    var.ssm_parameter_template == null || local.kms_key_arn == null ? [] : [{
      Sid       = "ParameterStoreKey"
      Effect    = "Allow"
      Resource  = [local.kms_key_arn]
      Action    = ["kms:Decrypt", "kms:Encrypt"]
      Condition = { StringLike = { "kms:ViaService" = ["ssm.${local.region}.amazonaws.com"] } }
    }],
    length(var.github_secrets) == 0 ? [] : [{
      Sid    = "ReadGitHubCredential"
      Effect = "Allow"
      Resource = distinct([for g in var.github_secrets :
      startswith(g.token_secret, "arn:") ? g.token_secret : "arn:${local.partition}:secretsmanager:${local.region}:*:secret:${g.token_secret}-??????"])
      Action = ["secretsmanager:GetSecretValue"]
    }],
    var.handler_function == null ? [] : [{ Sid = "InvokeHandler", Effect = "Allow", Resource = local.function_arns, Action = ["lambda:InvokeFunction"] }],
    var.aws_ses_email_from == null ? [] : [{
      Sid       = "SendMail"
      Effect    = "Allow"
      Resource  = local.ses_identities
      Action    = ["ses:SendEmail"]
      Condition = { StringEquals = { "ses:FromAddress" = [var.aws_ses_email_from] } }
    }],
    local.sns_topic_arn == null ? [] : [{ Sid = "PublishEvents", Effect = "Allow", Resource = [local.sns_topic_arn], Action = ["sns:Publish"] }],
  )

  hub_statements = concat(
    local.discovery != "organization" ? [] : [{ Sid = "ListAccounts", Effect = "Allow", Resource = ["*"], Action = ["organizations:ListAccounts"] }],
    local.discovery != "ous" ? [] : [{
      Sid      = "ListOUAccounts"
      Effect   = "Allow"
      Resource = ["*"]
      Action   = ["organizations:ListAccountsForParent", "organizations:ListOrganizationalUnitsForParent"]
    }],
    [
      { Sid = "AssumeMemberRole", Effect = "Allow", Resource = ["arn:${local.partition}:iam::*:role/${var.member_role_name}"], Action = ["sts:AssumeRole"] },
      { Sid = "EnqueueWork", Effect = "Allow", Resource = [aws_sqs_queue.work.arn, aws_sqs_queue.accounts.arn], Action = ["sqs:SendMessageBatch"] },
      { Sid = "ConsumeWork", Effect = "Allow", Resource = [aws_sqs_queue.work.arn, aws_sqs_queue.accounts.arn], Action = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"] },
      { Sid = "WriteLogs", Effect = "Allow", Resource = ["${aws_cloudwatch_log_group.keycycle.arn}:*", "${aws_cloudwatch_log_group.planner.arn}:*"], Action = ["logs:CreateLogStream", "logs:PutLogEvents"] },
    ],
    local.report_bucket == null ? [] : [{ Sid = "WriteReport", Effect = "Allow", Resource = ["arn:${local.partition}:s3:::${local.report_bucket}/${var.report_prefix}*"], Action = ["s3:PutObject"] }],
  )

  member_policy_json = jsonencode({ Version = "2012-10-17", Statement = local.member_statements })
  hub_policy_json    = jsonencode({ Version = "2012-10-17", Statement = local.hub_statements })
}
