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
  description = "The function package built by `go run ./deploy/build`. null: dist/keycycle-lambda.zip of the repository when the module is used from a checkout, else dist/keycycle-lambda.zip beside your root module (a git source holds no build)."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_zip == null || try(endswith(var.lambda_zip, ".zip"), false)
    error_message = "lambda_zip: the path of a .zip package."
  }
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

variable "schedule_expression" {
  description = "EventBridge Scheduler expression of the scan (rate(...), cron(...)); null: every scan_alarm_clock minutes."
  type        = string
  default     = null

  validation {
    condition     = var.schedule_expression == null || try(can(regex("^(rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|cron\\([^)]+\\))$", var.schedule_expression)), false)
    error_message = "schedule_expression: rate(N minutes|hours|days) or cron(...)."
  }
}

variable "aws_cli_time_limit" {
  description = "Rotate an access key this many days old (thresholds.rotate_after); null: keycycle's default (90) or the config_file's."
  type        = number
  default     = null

  validation {
    condition     = var.aws_cli_time_limit == null || try(var.aws_cli_time_limit >= 1 && var.aws_cli_time_limit <= 3650 && floor(var.aws_cli_time_limit) == var.aws_cli_time_limit, false)
    error_message = "aws_cli_time_limit: whole days, 1 to 3650, or null."
  }
}

variable "aws_login_profile_time_limit" {
  description = "Rotate a console password this many days old (thresholds.password_rotate_after); 0 turns password rotation off."
  type        = number
  default     = 60

  validation {
    condition     = var.aws_login_profile_time_limit >= 0 && var.aws_login_profile_time_limit <= 3650 && floor(var.aws_login_profile_time_limit) == var.aws_login_profile_time_limit
    error_message = "aws_login_profile_time_limit: whole days, 0 (off) to 3650."
  }
}

variable "console_unused_after_days" {
  description = "Remove console access unused this many days, after a warning (thresholds.console_unused_after); 0 never removes it."
  type        = number
  default     = 45

  validation {
    condition     = var.console_unused_after_days >= 0 && var.console_unused_after_days <= 3650 && floor(var.console_unused_after_days) == var.console_unused_after_days
    error_message = "console_unused_after_days: whole days, 0 (never) to 3650."
  }
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

  validation {
    condition     = can(regex("\\{\\{user\\}\\}", var.secret_name_template)) && can(regex("^[A-Za-z0-9/_+=.@{}-]{1,512}$", var.secret_name_template))
    error_message = "secret_name_template: a Secrets Manager name (letters, digits and /_+=.@-) containing {{user}}."
  }
}

variable "password_secret_name_template" {
  description = "Secrets Manager secret of a user's console password; it must differ from secret_name_template."
  type        = string
  default     = "keycycle/{{account}}/{{user}}/console"

  validation {
    condition     = can(regex("\\{\\{user\\}\\}", var.password_secret_name_template)) && can(regex("^[A-Za-z0-9/_+=.@{}-]{1,512}$", var.password_secret_name_template)) && var.password_secret_name_template != var.secret_name_template
    error_message = "password_secret_name_template: a Secrets Manager name containing {{user}}, different from secret_name_template."
  }
}

variable "ssm_parameter_template" {
  description = "Also deliver new keys to this SSM SecureString parameter ({{account}}, {{user}}); null: no SSM delivery."
  type        = string
  default     = null

  validation {
    condition     = var.ssm_parameter_template == null || try(can(regex("^/[A-Za-z0-9_./{}-]+$", var.ssm_parameter_template)) && can(regex("\\{\\{user\\}\\}", var.ssm_parameter_template)), false)
    error_message = "ssm_parameter_template: a parameter path starting with / and containing {{user}}, or null."
  }
}

variable "password_parameter_template" {
  description = "SSM parameter of a user's console password, with ssm_parameter_template."
  type        = string
  default     = "/keycycle/{{account}}/{{user}}/console"

  validation {
    condition     = can(regex("^/[A-Za-z0-9_./{}-]+$", var.password_parameter_template)) && can(regex("\\{\\{user\\}\\}", var.password_parameter_template))
    error_message = "password_parameter_template: a parameter path starting with / and containing {{user}}."
  }
}

variable "handler_function" {
  description = "Invoke this Lambda function (name or ARN) with {username, secretName, metadata} after each new key, like the CDK construct's handler; null: none."
  type        = string
  default     = null

  validation {
    condition     = var.handler_function == null || try(can(regex("^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$", var.handler_function)), false)
    error_message = "handler_function: a Lambda function name or ARN, or null."
  }
}

variable "github_secrets" {
  description = "Also write new keys as GitHub Actions secrets (the github sink, docs/delivery.md): each entry a repository (owner/name, optionally an environment) or an organization, the Secrets Manager secret holding the token or GitHub App credential (token_secret: name or ARN, read by the member roles), optional secret names ({{account}}, {{user}}), visibility (organizations), api_url (GitHub Enterprise Server) and required (default true)."
  type = list(object({
    repository             = optional(string)
    environment            = optional(string)
    organization           = optional(string)
    visibility             = optional(string)
    access_key_id_name     = optional(string)
    secret_access_key_name = optional(string)
    token_secret           = string
    api_url                = optional(string)
    required               = optional(bool, true)
  }))
  default = []

  validation {
    condition     = alltrue([for g in var.github_secrets : (g.repository == null) != (g.organization == null) && can(regex("^([A-Za-z0-9/_+=.@-]{1,512}|arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)$", g.token_secret))])
    error_message = "github_secrets: each entry names a repository or an organization (not both) and a token_secret (a Secrets Manager secret name or ARN)."
  }
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

  validation {
    condition     = var.aws_ses_email_from == null || try(can(regex("^[^\\s@<>]+@[^\\s@<>]+\\.[^\\s@<>]+$", var.aws_ses_email_from)), false)
    error_message = "aws_ses_email_from: an e-mail address, or null."
  }
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

  validation {
    condition     = var.fallback_email == null || try(can(regex("^[^\\s@<>]+@[^\\s@<>]+\\.[^\\s@<>]+$", var.fallback_email)), false)
    error_message = "fallback_email: an e-mail address, or null."
  }
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

  validation {
    condition     = var.sns_topic_arn == null || try(can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.sns_topic_arn)), false)
    error_message = "sns_topic_arn: an SNS topic ARN, or null."
  }
}

variable "organization_id" {
  description = "AWS Organizations id (o-...): the KMS key and the topic accept the member roles of its accounts. null: this account only."
  type        = string
  default     = null

  validation {
    condition     = var.organization_id == null || try(can(regex("^o-[a-z0-9]{10,32}$", var.organization_id)), false)
    error_message = "organization_id: an organization id (o-...), or null."
  }
}

variable "accounts" {
  description = "Account ids to work on (KEYCYCLE_ACCOUNTS); empty: the organization's accounts (or those of organizational_units)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.accounts : can(regex("^[0-9]{12}$", a))])
    error_message = "accounts: 12-digit account ids."
  }
}

variable "organizational_units" {
  description = "OU ids whose accounts are worked on, recursively (KEYCYCLE_OUS)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.organizational_units : can(regex("^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$", o))]) && (length(var.organizational_units) == 0 || length(var.accounts) == 0)
    error_message = "organizational_units: OU ids (ou-xxxx-xxxxxxxx), not together with accounts."
  }
}

variable "exclude_accounts" {
  description = "Account ids (globs) left alone (KEYCYCLE_EXCLUDE)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.exclude_accounts : can(regex("^[0-9*?]{1,12}$", a))]) && (length(var.exclude_accounts) == 0 || length(var.accounts) == 0)
    error_message = "exclude_accounts: account ids or globs of digits, * and ?; they apply to discovered accounts, not with an accounts list."
  }
}

variable "member_role_name" {
  description = "Name of the member role the function assumes in each account (KEYCYCLE_ROLE): deploy it with modules/member-role or the CloudFormation StackSet."
  type        = string
  default     = "KeycycleMember"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.member_role_name))
    error_message = "member_role_name: an IAM role name."
  }
}

variable "external_id" {
  description = "ExternalId the function presents to the member roles (KEYCYCLE_EXTERNAL_ID); null: none."
  type        = string
  default     = null

  validation {
    condition     = var.external_id == null || try(can(regex("^[A-Za-z0-9+=,.@:/_-]{2,}$", var.external_id)) && length(var.external_id) <= 1224, false)
    error_message = "external_id: 2 to 1224 of letters, digits and +=,.@:/-, or null."
  }
}

variable "concurrency" {
  description = "Accounts worked on at once per invocation (KEYCYCLE_CONCURRENCY)."
  type        = number
  default     = 8

  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 64 && floor(var.concurrency) == var.concurrency
    error_message = "concurrency: 1 to 64 accounts at once."
  }
}

variable "function_timeout" {
  description = "The amount of time the function has to run, in seconds; it stops starting work 30 s before."
  type        = number
  default     = 900

  validation {
    condition     = var.function_timeout >= 60 && var.function_timeout <= 900 && floor(var.function_timeout) == var.function_timeout
    error_message = "function_timeout: 60 to 900 seconds (the function stops starting work 30 s before)."
  }
}

variable "memory_size" {
  description = "Memory of the function in MB."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size: 128 to 10240 MB."
  }
}

variable "max_receive_count" {
  description = "Deliveries of a work message before it moves to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count: 1 to 1000."
  }
}

variable "cloudwatch_log_retention" {
  description = "Days the function's logs are kept."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.cloudwatch_log_retention)
    error_message = "cloudwatch_log_retention: one of CloudWatch Logs' retention values (1, 3, 5, 7, 14, 30, 60, 90, ... 3653 days)."
  }
}

variable "tags" {
  description = "Tags of every resource created."
  type        = map(string)
  default     = {}
}

variable "alarms" {
  description = "CloudWatch alarms on every dead-letter queue's depth and on both functions' errors and throttles, sent to the SNS topic (create_sns_topic or sns_topic_arn); without a topic they only show in CloudWatch."
  type        = bool
  default     = true
}

variable "sns_kms_key_arn" {
  description = "KMS key encrypting the topic create_sns_topic makes; null: unencrypted. Its key policy must let CloudWatch (alarms) and the member roles use it: kms:GenerateDataKey* and kms:Decrypt."
  type        = string
  default     = null

  validation {
    condition     = var.sns_kms_key_arn == null || try(can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/", var.sns_kms_key_arn)), false)
    error_message = "sns_kms_key_arn: a KMS key or alias ARN, or null."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key encrypting the function's log group; null: CloudWatch Logs' own encryption. Its key policy must allow the logs.<region>.amazonaws.com service."
  type        = string
  default     = null

  validation {
    condition     = var.log_kms_key_arn == null || try(can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/", var.log_kms_key_arn)), false)
    error_message = "log_kms_key_arn: a KMS key ARN (CloudWatch Logs takes no alias), or null."
  }
}

variable "permissions_boundary" {
  description = "Permissions boundary ARN for the roles this module creates (hub and scheduler), if your accounts require one."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary == null || try(can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/", var.permissions_boundary)), false)
    error_message = "permissions_boundary: a managed policy ARN, or null."
  }
}

variable "subnet_ids" {
  description = "Run the function in these VPC subnets (with security_group_ids); empty: outside a VPC. The subnets need a route to IAM, STS, SQS, Secrets Manager (and the other services keycycle uses): a NAT gateway or VPC endpoints."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids: subnet ids (subnet-...)."
  }
}

variable "security_group_ids" {
  description = "Security groups of the function in the VPC; required with subnet_ids. keycycle needs outbound HTTPS only."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.security_group_ids : can(regex("^sg-[0-9a-f]{8,17}$", s))])
    error_message = "security_group_ids: security group ids (sg-...)."
  }
}

variable "create_report_bucket" {
  description = "Create an S3 bucket the schedule writes `keycycle report` to, as JSON and HTML (docs/report.md): SSE-S3 encrypted, private (public access blocked, bucket owner enforced), TLS only, old reports expired by report_retention_days."
  type        = bool
  default     = false
}

variable "report_bucket_name" {
  description = "Name of the report bucket; null: <name>-reports-<account>-<region>."
  type        = string
  default     = null

  validation {
    condition     = var.report_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.report_bucket_name))
    error_message = "report_bucket_name is an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens."
  }
}

variable "report_prefix" {
  description = "Prefix of the report's keys (KEYCYCLE_REPORT_PREFIX): <prefix><date>/report.{json,html}, <prefix>latest.{json,html}, <prefix><date>/accounts/<id>.{json,html}."
  type        = string
  default     = "keycycle/"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.'()-][A-Za-z0-9!_.'()/-]*/$", var.report_prefix))
    error_message = "report_prefix ends with / and holds no wildcard."
  }
}

variable "report_retention_days" {
  description = "Days a report is kept in the report bucket before the lifecycle rule expires it."
  type        = number
  default     = 400

  validation {
    condition     = var.report_retention_days >= 1 && floor(var.report_retention_days) == var.report_retention_days
    error_message = "report_retention_days is a whole number of days, at least 1."
  }
}
