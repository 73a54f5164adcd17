package secret

import (
	"time"

	"github.com/keycycle/keycycle/internal/inventory"
)

// AccessKey is a new access key on its way from CreateAccessKey to the sinks that deliver it.
// Only Secret is secret; it redacts itself wherever an AccessKey is printed.
type AccessKey struct {
	AccountID string
	UserName  string
	UserARN   string
	KeyID     inventory.KeyID
	Secret    Value // zero when the caller only names the version (Holds, Abort)
	Created   time.Time
	// Replaces is the key this one replaces (the rotation's old key), empty when unknown. A store
	// that delivered the old key may use it to find its version without reading (one call less).
	Replaces inventory.KeyID
	// Tags are the user's tags as read right before the rotation (sinks that address the owner,
	// such as encrypted mail, read the owner's address and public key from them). Not secret.
	Tags map[string]string
}
