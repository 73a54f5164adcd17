variable "hub_role_arn" {
  description = "The keycycle function's role (the root module's hub_role_arn): the only principal that may assume this role."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.hub_role_arn))
    error_message = "A role ARN."
  }
}

variable "member_policy_json" {
  description = "The member policy: the root module's member_policy_json, or `keycycle policy --role member` output."
  type        = string
}

variable "role_name" {
  description = "Name of the role (the root module's member_role_name)."
  type        = string
  default     = "KeycycleMember"
}

variable "external_id" {
  description = "ExternalId the hub must present; null: none."
  type        = string
  default     = null
}

variable "permissions_boundary" {
  description = "Permissions boundary ARN for the role, if your accounts require one."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of the role."
  type        = map(string)
  default     = {}
}
