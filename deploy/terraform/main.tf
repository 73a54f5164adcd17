data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  # The package: given, else the repository's dist/ when the module is used from a checkout,
  # else dist/ beside the root module (a git source is a fresh clone, with no build in it).
  checkout_zip = "${path.module}/../../dist/keycycle-lambda.zip"
  lambda_zip   = var.lambda_zip != null ? var.lambda_zip : (fileexists(local.checkout_zip) ? local.checkout_zip : "${path.root}/dist/keycycle-lambda.zip")

  schedule_expression = var.schedule_expression != null ? var.schedule_expression : "rate(${var.scan_alarm_clock} ${var.scan_alarm_clock == 1 ? "minute" : "minutes"})"
  in_vpc              = length(var.subnet_ids) > 0

  user_config = merge(var.config_file == null ? null : yamldecode(file(var.config_file)))

  # Sections and fields this module owns: they decide the IAM policies.
  managed_sections  = ["secret", "delivery", "notify", "passwords", "accounts"]
  managed_threshold = ["password_rotate_after", "console_unused_after"]
  user_config_problems = concat(
    [for k in local.managed_sections : "${k}: set by the module's inputs" if contains(keys(local.user_config), k)],
    [for k in local.managed_threshold : "thresholds.${k}: set by the module's inputs" if contains(keys(try(local.user_config.thresholds, {})), k)],
    can(local.user_config.selection.include) ? ["selection.include: set by include_paths"] : [],
    can(local.user_config.tags.state_prefix) ? ["tags.state_prefix: the policies allow keycycle: tags only"] : [],
    flatten([for i, r in try(local.user_config.rules, []) : [
      for k in concat(["delivery"], local.managed_threshold) : "rules[${i}].${k}: set by the module's inputs" if contains(keys(r), k)
    ]]),
  )

  kms_key_arn   = var.create_kms_key ? aws_kms_key.keycycle[0].arn : var.kms_key_arn
  sns_topic_arn = var.create_sns_topic ? aws_sns_topic.events[0].arn : var.sns_topic_arn

  # The configuration the function runs with, as /opt/keycycle.yaml in a layer.
  config = merge(local.user_config, {
    dry_run = var.dry_run
    thresholds = merge(
      try(local.user_config.thresholds, {}),
      var.aws_cli_time_limit == null ? {} : { rotate_after = "${var.aws_cli_time_limit}d" },
      {
        password_rotate_after = var.aws_login_profile_time_limit == 0 ? "off" : "${var.aws_login_profile_time_limit}d"
        console_unused_after  = var.console_unused_after_days == 0 ? "off" : "${var.console_unused_after_days}d"
      },
    )
    selection = merge(
      try(local.user_config.selection, {}),
      contains(var.include_paths, "/") ? {} : { include = [{ paths = var.include_paths }] },
    )
    secret = merge(
      { name_template = var.secret_name_template },
      local.kms_key_arn == null ? {} : { kms_key_id = local.kms_key_arn },
    )
    passwords = merge(
      {
        reset_required       = var.aws_login_profile_password_reset_required
        secret_name_template = var.password_secret_name_template
      },
      var.ssm_parameter_template == null ? {} : { parameter_template = var.password_parameter_template },
    )
    delivery = concat(
      [{ type = "secretsmanager" }],
      var.ssm_parameter_template == null ? [] : [merge(
        { type = "ssm", parameter = var.ssm_parameter_template },
        local.kms_key_arn == null ? {} : { kms_key_id = local.kms_key_arn },
      )],
      var.handler_function == null ? [] : [{ type = "lambda", function = var.handler_function }],
      [for g in var.github_secrets : { for k, v in merge(g, { type = "github" }) : k => v if v != null }],
    )
    notify = merge(
      var.aws_ses_email_from == null && var.aws_account_name == null ? {} : {
        email = merge(
          var.aws_ses_email_from == null ? {} : { from = var.aws_ses_email_from },
          var.aws_account_name == null ? {} : { account_name = var.aws_account_name },
        )
      },
      local.sns_topic_arn == null ? {} : { sns = { topic_arn = local.sns_topic_arn } },
      var.fallback_email == null ? {} : { owners = { fallback = var.fallback_email } },
    )
  })
  config_yaml = yamlencode(local.config)

  member_role = var.member_role_name
  environment = merge(
    {
      KEYCYCLE_CONFIG      = "/opt/keycycle.yaml"
      KEYCYCLE_QUEUE_URL   = aws_sqs_queue.work.url
      KEYCYCLE_ROLE        = local.member_role
      KEYCYCLE_DRY_RUN     = var.dry_run ? "true" : "false"
      KEYCYCLE_CONCURRENCY = tostring(var.concurrency)
    },
    { KEYCYCLE_ACCOUNT_QUEUE_URL = aws_sqs_queue.accounts.url }, # planner.tf
    length(var.accounts) == 0 ? {} : { KEYCYCLE_ACCOUNTS = join(",", var.accounts) },
    length(var.organizational_units) == 0 ? {} : { KEYCYCLE_OUS = join(",", var.organizational_units) },
    length(var.exclude_accounts) == 0 ? {} : { KEYCYCLE_EXCLUDE = join(",", var.exclude_accounts) },
    var.external_id == null ? {} : { KEYCYCLE_EXTERNAL_ID = var.external_id },
    local.report_bucket == null ? {} : { KEYCYCLE_REPORT_BUCKET = local.report_bucket, KEYCYCLE_REPORT_PREFIX = var.report_prefix }, # report.tf
  )
}

# The configuration, as a layer: the function reads /opt/keycycle.yaml.
data "archive_file" "config" {
  type        = "zip"
  output_path = "${path.root}/.terraform/keycycle-config-${var.name}.zip"

  source {
    content  = local.config_yaml
    filename = "keycycle.yaml"
  }
}

resource "aws_lambda_layer_version" "config" {
  layer_name               = "${var.name}-config"
  filename                 = data.archive_file.config.output_path
  source_code_hash         = data.archive_file.config.output_base64sha256
  compatible_runtimes      = ["provided.al2023"]
  compatible_architectures = ["arm64"]
}

resource "aws_cloudwatch_log_group" "keycycle" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.cloudwatch_log_retention
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "keycycle" {
  function_name    = var.name
  description      = "keycycle: rotates IAM user credentials (schedule, SQS worker, force requests)"
  role             = aws_iam_role.hub.arn
  filename         = local.lambda_zip
  source_code_hash = fileexists(local.lambda_zip) ? filebase64sha256(local.lambda_zip) : null
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  memory_size      = var.memory_size
  timeout          = var.function_timeout
  layers           = [aws_lambda_layer_version.config.arn]
  tags             = var.tags

  reserved_concurrent_executions = var.worker_reserved_concurrency # planner.tf

  environment {
    variables = local.environment
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  depends_on = [aws_cloudwatch_log_group.keycycle, aws_iam_role_policy.hub, aws_iam_role_policy_attachment.vpc]

  lifecycle {
    precondition {
      condition     = length(local.user_config_problems) == 0
      error_message = "config_file: ${join("; ", local.user_config_problems)}"
    }
    precondition {
      condition     = fileexists(local.lambda_zip)
      error_message = "No package at ${local.lambda_zip}: build it with `go run ./deploy/build -o <that path>` in a keycycle checkout (of the same version as this module), or set lambda_zip."
    }
    precondition {
      condition     = (length(var.subnet_ids) == 0) == (length(var.security_group_ids) == 0)
      error_message = "subnet_ids and security_group_ids go together."
    }
  }
}

# Work queue: one FIFO message per user with work (message group account/user), and its DLQ.
resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-dlq.fifo"
  fifo_queue                = true
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "work" {
  name                        = "${var.name}.fifo"
  fifo_queue                  = true
  content_based_deduplication = false
  # AWS's advice for a Lambda event source: six times the function's timeout.
  visibility_timeout_seconds = 6 * var.function_timeout
  sqs_managed_sse_enabled    = true
  tags                       = var.tags

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_lambda_event_source_mapping" "work" {
  event_source_arn        = aws_sqs_queue.work.arn
  function_name           = aws_lambda_function.keycycle.arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
}

# The schedule: EventBridge Scheduler invokes the function with {"keycycle": "schedule"}.
resource "aws_scheduler_schedule" "scan" {
  name                = var.name
  schedule_expression = local.schedule_expression

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.keycycle.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ keycycle = "schedule" })
  }
}

resource "aws_iam_role" "scheduler" {
  name                 = "${var.name}-scheduler"
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
}

resource "aws_iam_role_policy" "scheduler" {
  name = "invoke"
  role = aws_iam_role.scheduler.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "InvokeKeycycle"
      Effect   = "Allow"
      Action   = ["lambda:InvokeFunction"]
      Resource = [aws_lambda_function.keycycle.arn]
    }]
  })
}

# The function's role: the hub policy `keycycle policy --role hub` prints (policy.tf).
resource "aws_iam_role" "hub" {
  name                 = "${var.name}-hub"
  permissions_boundary = var.permissions_boundary
  tags                 = var.tags

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "hub" {
  name   = "keycycle-hub"
  role   = aws_iam_role.hub.id
  policy = local.hub_policy_json
}

# In a VPC, the Lambda service manages the function's network interfaces with its role (AWS's
# managed policy for exactly that); keycycle's own code calls none of these actions.
resource "aws_iam_role_policy_attachment" "vpc" {
  count      = length(var.subnet_ids) > 0 ? 1 : 0
  role       = aws_iam_role.hub.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaENIManagementAccess"
}

# Optional: the topic that receives one JSON message per event.
resource "aws_sns_topic" "events" {
  count             = var.create_sns_topic ? 1 : 0
  name              = "${var.name}-events"
  kms_master_key_id = var.sns_kms_key_arn
  tags              = var.tags
}

resource "aws_sns_topic_policy" "events" {
  count = var.create_sns_topic ? 1 : 0
  arn   = aws_sns_topic.events[0].arn

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "MemberRolesPublish"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.events[0].arn
        Condition = merge(
          { ArnLike = { "aws:PrincipalArn" = "arn:${local.partition}:iam::*:role/${var.member_role_name}" } },
          var.organization_id == null ? { StringEquals = { "aws:PrincipalAccount" = local.account } } : { StringEquals = { "aws:PrincipalOrgID" = var.organization_id } },
        )
      },
      {
        Sid       = "AlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.events[0].arn
        Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = { AWS = "*" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.events[0].arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

# Optional: the key of the secrets and parameters.
resource "aws_kms_key" "keycycle" {
  count               = var.create_kms_key ? 1 : 0
  description         = "keycycle: secrets and parameters holding rotated credentials"
  enable_key_rotation = true
  tags                = var.tags

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "MemberRolesUseThroughSecretsManagerAndSSM"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = merge(
          {
            ArnLike    = { "aws:PrincipalArn" = "arn:${local.partition}:iam::*:role/${var.member_role_name}" }
            StringLike = { "kms:ViaService" = ["secretsmanager.*.amazonaws.com", "ssm.*.amazonaws.com"] }
          },
          var.organization_id == null ? { StringEquals = { "aws:PrincipalAccount" = local.account } } : { StringEquals = { "aws:PrincipalOrgID" = var.organization_id } },
        )
      },
      {
        Sid       = "OwnersReadTheirSecrets"
        Effect    = "Allow"
        Principal = { AWS = "*" }
        Action    = "kms:Decrypt"
        Resource  = "*"
        Condition = merge(
          { StringLike = { "kms:ViaService" = ["secretsmanager.*.amazonaws.com", "ssm.*.amazonaws.com"] } },
          var.organization_id == null ? { StringEquals = { "aws:PrincipalAccount" = local.account } } : { StringEquals = { "aws:PrincipalOrgID" = var.organization_id } },
        )
      },
    ]
  })
}

# Alarms (planner.tf): every dead-letter queue's depth, both functions' errors and throttles.
# They go to the events topic when there is one.
locals {
  alarm_actions = local.sns_topic_arn == null ? [] : [local.sns_topic_arn]
}
