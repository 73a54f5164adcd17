# keycycle for an AWS Organization: the function in a security account, reading the organization
# from the management account's delegated Organizations access, and the member role in each
# account. Here two member accounts get the role through Terraform providers; for every account
# of the organization, deploy deploy/cloudformation/member-role.yaml as a service-managed StackSet.
#
#   go run ./deploy/build
#   cd deploy/terraform/examples/organization && terraform init && terraform apply

provider "aws" {
  region = "eu-west-1"
}

provider "aws" {
  alias  = "payments"
  region = "eu-west-1"
  assume_role {
    role_arn = "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
  }
}

provider "aws" {
  alias  = "analytics"
  region = "eu-west-1"
  assume_role {
    role_arn = "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole"
  }
}

module "keycycle" {
  source = "../.."

  config_file          = "${path.module}/keycycle.yaml"
  organizational_units = ["ou-ab12-34cd56ef"]
  exclude_accounts     = ["111111111111"]
  organization_id      = "o-abc123def4"
  external_id          = "keycycle-7f3a"
  dry_run              = true
  aws_ses_email_from   = "keycycle@example.com"
  fallback_email       = "cloud-security@example.com"
  create_sns_topic     = true
  create_kms_key       = true
  tags                 = { Project = "keycycle" }
}

module "member_payments" {
  source    = "../../modules/member-role"
  providers = { aws = aws.payments }

  hub_role_arn       = module.keycycle.hub_role_arn
  member_policy_json = module.keycycle.member_policy_json
  external_id        = "keycycle-7f3a"
}

module "member_analytics" {
  source    = "../../modules/member-role"
  providers = { aws = aws.analytics }

  hub_role_arn       = module.keycycle.hub_role_arn
  member_policy_json = module.keycycle.member_policy_json
  external_id        = "keycycle-7f3a"
}

output "function_arn" {
  value = module.keycycle.function_arn
}
