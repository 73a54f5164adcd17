package awssim

import "time"

// IAM account-wide reads: credential report, authorization details, aliases, summary.
var iamAccountActions = map[string]handler{}

// credentialReport is a generated credential report: a CSV snapshot of the account.
type credentialReport struct {
	Generated time.Time // sandbox time of the snapshot
	CSV       []byte
	readyAt   time.Time // wall clock time from which GetCredentialReport returns it
}
