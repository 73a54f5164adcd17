package awssim

// IAM login profiles and the account password policy.
var iamLoginActions = map[string]handler{}
