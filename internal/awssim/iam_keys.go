package awssim

// IAM access keys.
var iamKeyActions = map[string]handler{}
