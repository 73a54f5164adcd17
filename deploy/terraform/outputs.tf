output "function_arn" {
  description = "The keycycle function: invoke it with {\"user_name\": \"...\", \"force\": \"true\"} to force a rotation."
  value       = aws_lambda_function.keycycle.arn
}

output "hub_role_arn" {
  description = "The function's role: the principal the member roles trust."
  value       = aws_iam_role.hub.arn
}

output "member_policy_json" {
  description = "The member role's policy (keycycle policy --role member): pass it to modules/member-role in every account worked on."
  value       = local.member_policy_json
}

output "queue_url" {
  description = "The work queue; a force request sent here is handled like a direct invocation."
  value       = aws_sqs_queue.work.url
}

output "dead_letter_queue_url" {
  description = "Work that failed max_receive_count times."
  value       = aws_sqs_queue.dead_letter.url
}

output "sns_topic_arn" {
  description = "The events topic, when created or given."
  value       = local.sns_topic_arn
}

output "kms_key_arn" {
  description = "The key of the secrets and parameters, when created or given."
  value       = local.kms_key_arn
}

output "config_yaml" {
  description = "The configuration the function runs with (/opt/keycycle.yaml)."
  value       = local.config_yaml
}

output "alarm_arns" {
  description = "The CloudWatch alarms (every dead-letter queue's depth, both functions' errors and throttles), when alarms is true."
  value       = concat([for a in aws_cloudwatch_metric_alarm.dead_letters : a.arn], [for a in aws_cloudwatch_metric_alarm.functions : a.arn])
}

output "report_bucket" {
  description = "The bucket the schedule writes its report to (create_report_bucket); null: none."
  value       = local.report_bucket
}
