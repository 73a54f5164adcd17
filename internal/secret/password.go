package secret

import "time"

// Password is a new console password on its way from the generator to the sinks that deliver it.
// Only Secret is secret; it redacts itself wherever a Password is printed.
type Password struct {
	AccountID string
	UserName  string
	UserARN   string
	// Version names this password among the user's passwords, for idempotent writes (a Secrets
	// Manager ClientRequestToken, a webhook delivery id): 32 to 64 letters, digits and '-'. It is
	// not secret and says nothing about the password.
	Version string
	Secret  Value // zero when the caller only names the version (Abort)
	Created time.Time
	// ResetRequired: the user must choose a new password at the first sign-in with this one.
	ResetRequired bool
	// Tags are the user's tags as read right before the rotation (the owner's address and public
	// key for encrypted mail). Not secret.
	Tags map[string]string
}
