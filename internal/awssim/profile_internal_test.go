package awssim

import (
	"strings"
	"testing"
	"time"
)

func TestAWSRateLimitProfileBucketsPerAction(t *testing.T) {
	if err := (Faults{RateLimitProfile: "azure"}).Validate(); err == nil || !strings.Contains(err.Error(), "rate_limit_profile") {
		t.Fatalf("an unknown profile must be refused naming the field: %v", err)
	}
	f := newFaultState()
	f.set(Faults{RateLimitProfile: ProfileAWS})
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 20; i++ { // the burst of GetUser
		if !f.allow("iam", "GetUser", "111111111111", now) {
			t.Fatalf("GetUser %d throttled within the burst", i)
		}
	}
	if f.allow("iam", "GetUser", "111111111111", now) {
		t.Fatal("GetUser beyond its burst must be throttled")
	}
	if !f.allow("iam", "ListAccessKeys", "111111111111", now) || !f.allow("iam", "GetUser", "222222222222", now) {
		t.Fatal("another action, or another account, has its own bucket")
	}
	if !f.allow("iam", "GetUser", "111111111111", now.Add(100*time.Millisecond)) {
		t.Fatal("10 tokens/s: one is back after 100ms")
	}
	for i := 0; i < 8; i++ {
		f.allow("iam", "CreateAccessKey", "111111111111", now)
	}
	if f.allow("iam", "CreateAccessKey", "111111111111", now) {
		t.Fatal("writes: burst 8")
	}
}
