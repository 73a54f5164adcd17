# Inputs named like the Terraform + SQS module's where they mean the same (scan_alarm_clock,
# aws_cli_time_limit, aws_login_profile_time_limit, aws_login_profile_password_reset_required,
# cloudwatch_log_retention, aws_ses_email_from, aws_account_name, function_timeout, tags).

variable "name" {
  description = "Name of the function, its log group (/aws/lambda/<name>), its queues (<name>.fifo, <name>-dlq.fifo) and roles."
  type        = string
  default     = "keycycle"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,54}$", var.name))
    error_message = "The name is 1 to 54 letters, digits, - and _."
  }
}

variable "lambda_zip" {
  description = "The function package built by `go run ./deploy/build` (default: dist/keycycle-lambda.zip at the repository root)."
  type        = string
  default     = null
}

variable "config_file" {
  description = "A keycycle.yaml for the settings that change no permission (thresholds, rules without delivery, selection excludes, tags, overrides, two_active_keys, max_destructive). Sections the module manages (secret, delivery, notify, passwords, accounts, selection.include, password thresholds) are refused here: they come from this module's inputs, so that the IAM policies match the configuration."
  type        = string
  default     = null
}

variable "dry_run" {
  description = "Plan and report only (KEYCYCLE_DRY_RUN). Set to false once the plans in the logs look right."
  type        = bool
  default     = true
}

variable "scan_alarm_clock" {
  description = "Minutes between two scans (the schedule; default 1440 = one day)."
  type        = number
  default     = 1440

  validation {
    condition     = var.scan_alarm_clock >= 1 && floor(var.scan_alarm_clock) == var.scan_alarm_clock
    error_message = "Whole minutes, at least 1."
  }
}

variable "aws_cli_time_limit" {
  description = "Rotate an access key this many days old (thresholds.rotate_after); null: keycycle's default (90) or the config_file's."
  type        = number
  default     = null
}

variable "aws_login_profile_time_limit" {
  description = "Rotate a console password this many days old (thresholds.password_rotate_after); 0 turns password rotation off."
  type        = number
  default     = 60
}

variable "console_unused_after_days" {
  description = "Remove console access unused this many days, after a warning (thresholds.console_unused_after); 0 never removes it."
  type        = number
  default     = 45
}

variable "aws_login_profile_password_reset_required" {
  description = "Requires that the console password be changed by the user at the next login."
  type        = bool
  default     = true
}

variable "include_paths" {
  description = "IAM path prefixes of the users keycycle manages (selection.include); the IAM policy of the member role is scoped to them. [\"/\"]: every user."
  type        = list(string)
  default     = ["/"]

  validation {
    condition     = length(var.include_paths) > 0 && alltrue([for p in var.include_paths : can(regex("^/[A-Za-z0-9/_+=,.@-]*$", p))])
    error_message = "IAM path prefixes start with / and have no wildcard."
  }
}

variable "secret_name_template" {
  description = "Secrets Manager secret of a user's access key ({{account}}, {{user}}); the CloudFormation solution's is Account_{{account}}_User_{{user}}_AccessKey."
  type        = string
  default     = "keycycle/{{account}}/{{user}}"
}

variable "password_secret_name_template" {
  description = "Secrets Manager secret of a user's console password; it must differ from secret_name_template."
  type        = string
  default     = "keycycle/{{account}}/{{user}}/console"
}

variable "ssm_parameter_template" {
  description = "Also deliver new keys to this SSM SecureString parameter ({{account}}, {{user}}); null: no SSM delivery."
  type        = string
  default     = null
}

variable "password_parameter_template" {
  description = "SSM parameter of a user's console password, with ssm_parameter_template."
  type        = string
  default     = "/keycycle/{{account}}/{{user}}/console"
}

variable "handler_function" {
  description = "Invoke this Lambda function (name or ARN) with {username, secretName, metadata} after each new key, like the CDK construct's handler; null: none."
  type        = string
  default     = null
}

variable "create_kms_key" {
  description = "Create a KMS key for the secrets and parameters keycycle writes (its policy lets the member roles use it through Secrets Manager and SSM)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "An existing KMS key ARN for the secrets and parameters, instead of create_kms_key; null: the AWS managed keys."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", var.kms_key_arn))
    error_message = "A key ARN (arn:...:key/...), not an alias: IAM scopes KMS actions to keys."
  }
}

variable "aws_ses_email_from" {
  description = "SES-verified sender of the owners' notification mails (notify.email.from); null: no e-mail."
  type        = string
  default     = null
}

variable "aws_account_name" {
  description = "Name of the account in notifications (notify.email.account_name); null: the alias, else the id."
  type        = string
  default     = null
}

variable "fallback_email" {
  description = "Receives the notices of users without an owner (notify.owners.fallback); null: nobody."
  type        = string
  default     = null
}

variable "create_sns_topic" {
  description = "Create an SNS topic that receives one JSON message per event (notify.sns.topic_arn), publishable by the member roles."
  type        = bool
  default     = false
}

variable "sns_topic_arn" {
  description = "An existing SNS topic instead of create_sns_topic; null: none."
  type        = string
  default     = null
}

variable "organization_id" {
  description = "AWS Organizations id (o-...): the KMS key and the topic accept the member roles of its accounts. null: this account only."
  type        = string
  default     = null
}

variable "accounts" {
  description = "Account ids to work on (KEYCYCLE_ACCOUNTS); empty: the organization's accounts (or those of organizational_units)."
  type        = list(string)
  default     = []
}

variable "organizational_units" {
  description = "OU ids whose accounts are worked on, recursively (KEYCYCLE_OUS)."
  type        = list(string)
  default     = []
}

variable "exclude_accounts" {
  description = "Account ids (globs) left alone (KEYCYCLE_EXCLUDE)."
  type        = list(string)
  default     = []
}

variable "member_role_name" {
  description = "Name of the member role the function assumes in each account (KEYCYCLE_ROLE): deploy it with modules/member-role or the CloudFormation StackSet."
  type        = string
  default     = "KeycycleMember"
}

variable "external_id" {
  description = "ExternalId the function presents to the member roles (KEYCYCLE_EXTERNAL_ID); null: none."
  type        = string
  default     = null
}

variable "concurrency" {
  description = "Accounts worked on at once per invocation (KEYCYCLE_CONCURRENCY)."
  type        = number
  default     = 8
}

variable "function_timeout" {
  description = "The amount of time the function has to run, in seconds; it stops starting work 30 s before."
  type        = number
  default     = 900
}

variable "memory_size" {
  description = "Memory of the function in MB."
  type        = number
  default     = 512
}

variable "max_receive_count" {
  description = "Deliveries of a work message before it moves to the dead-letter queue."
  type        = number
  default     = 5
}

variable "cloudwatch_log_retention" {
  description = "Days the function's logs are kept."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags of every resource created."
  type        = map(string)
  default     = {}
}
