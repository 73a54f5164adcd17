# Two-level fan-out (docs/organizations.md): the schedule sends one message per account to the
# account queue; the account planner function (the same package and role) plans one account per
# message and feeds the work queue. CloudWatch alarms on both dead-letter queues and on both
# functions' errors and throttles go to the events topic.

variable "planner_reserved_concurrency" {
  description = "Accounts planned at once: the account planner's reserved concurrency (each account's IAM budget is its own; the hub's sts:AssumeRole calls are shared)."
  type        = number
  default     = 50

  validation {
    condition     = var.planner_reserved_concurrency >= 1
    error_message = "planner_reserved_concurrency must be at least 1."
  }
}

variable "worker_reserved_concurrency" {
  description = "The worker's (and schedule's) reserved concurrency; -1: unreserved (the account's pool)."
  type        = number
  default     = -1
}

variable "planner_memory_size" {
  description = "Memory of the account planner in MB: 512 plans accounts of 100,000 users (docs/benchmarks.md)."
  type        = number
  default     = 512
}

variable "planner_timeout" {
  description = "Timeout of one account planning in seconds; the account queue's visibility timeout is six times it."
  type        = number
  default     = 900
}

variable "planner_batch_size" {
  description = "Account messages per planner invocation (1: one account per invocation, failures and retries per account)."
  type        = number
  default     = 1

  validation {
    condition     = var.planner_batch_size >= 1 && var.planner_batch_size <= 10
    error_message = "planner_batch_size must be within 1..10."
  }
}

locals {
  planner_name = "${var.name}-planner"
}

resource "aws_sqs_queue" "accounts_dead_letter" {
  name                      = "${var.name}-accounts-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

# Standard queue: accounts need no order, and a duplicate costs one scan and no change.
resource "aws_sqs_queue" "accounts" {
  name                       = "${var.name}-accounts"
  visibility_timeout_seconds = 6 * var.planner_timeout
  message_retention_seconds  = 86400
  sqs_managed_sse_enabled    = true
  tags                       = var.tags

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.accounts_dead_letter.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_cloudwatch_log_group" "planner" {
  name              = "/aws/lambda/${var.name}-planner"
  retention_in_days = var.cloudwatch_log_retention
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "planner" {
  function_name                  = local.planner_name
  description                    = "keycycle: account planner (one account per message, feeds the work queue)"
  role                           = aws_iam_role.hub.arn
  filename                       = local.lambda_zip
  source_code_hash               = filebase64sha256(local.lambda_zip)
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = ["arm64"]
  memory_size                    = var.planner_memory_size
  timeout                        = var.planner_timeout
  reserved_concurrent_executions = var.planner_reserved_concurrency
  layers                         = [aws_lambda_layer_version.config.arn]
  tags                           = var.tags

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

  depends_on = [aws_cloudwatch_log_group.planner, aws_iam_role_policy.hub, aws_iam_role_policy_attachment.vpc]
}

resource "aws_lambda_event_source_mapping" "planner" {
  event_source_arn        = aws_sqs_queue.accounts.arn
  function_name           = aws_lambda_function.planner.arn
  batch_size              = var.planner_batch_size
  function_response_types = ["ReportBatchItemFailures"]
}

# Every dead-letter queue's depth: anything there failed max_receive_count times.
resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each = var.alarms ? {
    work     = aws_sqs_queue.dead_letter.name
    accounts = aws_sqs_queue.accounts_dead_letter.name
  } : {}
  alarm_name          = "${var.name}-${each.key}-dead-letters"
  alarm_description   = "keycycle: messages in ${each.value}; the reason is in the function's log (account not planned / message failed)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

# Both functions' errors and throttles.
resource "aws_cloudwatch_metric_alarm" "functions" {
  for_each = var.alarms ? {
    worker-errors     = { function = aws_lambda_function.keycycle.function_name, metric = "Errors" }
    worker-throttles  = { function = aws_lambda_function.keycycle.function_name, metric = "Throttles" }
    planner-errors    = { function = aws_lambda_function.planner.function_name, metric = "Errors" }
    planner-throttles = { function = aws_lambda_function.planner.function_name, metric = "Throttles" }
  } : {}
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "keycycle: ${each.value.metric} of ${each.value.function}."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = each.value.function }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  tags                = var.tags
}

output "account_queue_url" {
  description = "The account queue (one message per account for the planners)."
  value       = aws_sqs_queue.accounts.url
}

output "planner_function_arn" {
  description = "The account planner function."
  value       = aws_lambda_function.planner.arn
}
