package awssim

// Secrets Manager.
var secretsActions = map[string]handler{}
