package plan

// Code is the stable reason of a step: what made the policy decide it, in a closed set of short
// names that programs (notifications, reports, alerting on a saved plan) can rely on. The text
// Reason says the same for a person, with the numbers; its wording may change, a code does not.
// docs/plan-format.md lists every code with its meaning.
type Code string

// Reason codes. A step written by this keycycle always has one; a plan saved by a keycycle
// before codes existed loads with an empty code.
const (
	// Selection and exemptions.
	CodeNotSelected         Code = "not-selected"               // skip: the selection does not manage the user; the credential is overdue
	CodeExempt              Code = "exempt"                     // skip: exemption group or exemption tag in force
	CodeExemptionUnreadable Code = "exemption-unreadable"       // warn: the exemption tag cannot be read; the user is managed
	CodeExemptionExpired    Code = "exemption-expired"          // warn: the exemption tag has expired; the user is managed again
	CodeOverrideIgnored     Code = "override-ignored"           // warn: a per-user override tag was refused; the rule's value applies
	CodeTagUnreadable       Code = "tag-unreadable"             // warn: a keycycle state tag cannot be read; ignored
	CodeKeysUnknown         Code = "keys-unknown"               // skip: the user's keys could not be read; a person must look
	CodeCapReached          Code = "cap-reached"                // skip: a destructive step (or the rotation needing it) deferred by max_destructive
	CodeLeaseHeld           Code = "lease-held"                 // skip: another run holds the rotation's lease on the user
	CodeResumeRotation      Code = "resume-rotation"            // rotate: an interrupted rotation is completed
	CodeOrphanKey           Code = "orphan-key"                 // rotate: an interrupted rotation left a key no record explains
	CodeStaleIntent         Code = "stale-intent"               // warn: a rotation intent whose key is no longer active; cleared
	CodeLastUseUnknown      Code = "last-use-unknown"           // skip: a last use is unknown, so nothing is retired or judged
	CodeAgeUnknown          Code = "age-unknown"                // skip: the console password's age is unknown
	CodeLoginUnknown        Code = "login-unknown"              // skip: the console password could not be read
	CodeKeyAgeDue           Code = "key-age-due"                // rotate: the key is older than rotate_after
	CodeRotationUpcoming    Code = "rotation-upcoming"          // warn: the key is due within warn_before
	CodeMakeRoom            Code = "make-room"                  // delete: an idle inactive key goes so that a due key can be rotated
	CodeNoRoom              Code = "no-room"                    // blocked: a due key cannot be rotated, the second key slot is taken
	CodeAwaitingRetirement  Code = "awaiting-retirement"        // blocked: a due key waits for the other active key to be retired
	CodeTwoActiveKeys       Code = "two-active-keys"            // blocked: two active keys and no safe way to pick one
	CodeTwoActiveKeysIdle   Code = "two-active-keys-idle"       // deactivate: the idle one of two active keys (two_active_keys: deactivate-unused)
	CodeOldKeyGrace         Code = "old-key-grace"              // skip: a replaced key within deactivate_after
	CodeOldKeyInUse         Code = "old-key-in-use"             // warn: a replaced key is still used; it stays active
	CodeOldKeyIdle          Code = "old-key-idle"               // deactivate: a replaced key is unused; it is retired
	CodeOldKeyReactivated   Code = "old-key-reactivated"        // warn: someone reactivated a key keycycle deactivated
	CodeNewKeyInactive      Code = "new-key-inactive"           // warn: the key a rotation created is not active; the old one stays
	CodeHardLimit           Code = "hard-limit"                 // deactivate: a key past hard_limit, although it is used
	CodeInactiveKeyUsed     Code = "inactive-key-used"          // warn: a key keycycle deactivated was used afterwards; not deleted
	CodeInactiveWaiting     Code = "inactive-waiting"           // skip: a key keycycle deactivated, within delete_after
	CodeInactiveDeleteAfter Code = "inactive-past-delete-after" // delete: a key keycycle deactivated, delete_after passed
	CodePasswordAgeDue      Code = "password-age-due"           // rotate: the console password is older than password_rotate_after
	CodeConsoleUnused       Code = "console-unused"             // warn: console access unused; removed after the warning period
	CodeConsoleRemovalDue   Code = "console-removal-due"        // delete: console access unused past the warning period; login profile deleted
	CodeMFAMissing          Code = "mfa-missing"                // warn: console access without an MFA device
	// CodeForced is not the policy's: a person asked for the step (keycycle rotate --deactivate-old).
	CodeForced Code = "forced" // deactivate: a person's explicit override of the unused-since-delivery guard
)

// Codes lists every reason code, in the order docs/plan-format.md documents them.
var Codes = []Code{
	CodeNotSelected, CodeExempt, CodeExemptionUnreadable, CodeExemptionExpired, CodeOverrideIgnored, CodeTagUnreadable,
	CodeKeysUnknown, CodeCapReached, CodeLeaseHeld, CodeResumeRotation, CodeOrphanKey, CodeStaleIntent,
	CodeLastUseUnknown, CodeAgeUnknown, CodeLoginUnknown, CodeKeyAgeDue, CodeRotationUpcoming, CodeMakeRoom,
	CodeNoRoom, CodeAwaitingRetirement, CodeTwoActiveKeys, CodeTwoActiveKeysIdle, CodeOldKeyGrace, CodeOldKeyInUse,
	CodeOldKeyIdle, CodeOldKeyReactivated, CodeNewKeyInactive, CodeHardLimit, CodeInactiveKeyUsed, CodeInactiveWaiting,
	CodeInactiveDeleteAfter, CodePasswordAgeDue, CodeConsoleUnused, CodeConsoleRemovalDue, CodeMFAMissing, CodeForced,
}

// Valid reports whether c is a known code. The empty code (a plan saved before codes) is not.
func (c Code) Valid() bool {
	for _, x := range Codes {
		if x == c {
			return true
		}
	}
	return false
}
