# keycycle in one account: the function and, in the same account, the member role it assumes.
#
#   go run ./deploy/build                 # dist/keycycle-lambda.zip, from the repository root
#   cd deploy/terraform/examples/single-account && terraform init && terraform apply

provider "aws" {
  region = "eu-west-1"
}

data "aws_caller_identity" "current" {}

module "keycycle" {
  source = "../.."

  config_file                  = "${path.module}/keycycle.yaml"
  accounts                     = [data.aws_caller_identity.current.account_id]
  dry_run                      = true
  aws_cli_time_limit           = 90
  aws_login_profile_time_limit = 60
  aws_ses_email_from           = "keycycle@example.com"
  aws_account_name             = "production"
  create_sns_topic             = true
  cloudwatch_log_retention     = 30
  tags                         = { Project = "keycycle" }
}

module "member_role" {
  source = "../../modules/member-role"

  hub_role_arn       = module.keycycle.hub_role_arn
  member_policy_json = module.keycycle.member_policy_json
}

output "function_arn" {
  value = module.keycycle.function_arn
}
