package awssimtest

import (
	"net/http/httptest"
	"testing"

	"github.com/keycycle/keycycle/internal/awssim"
)

// GitHub is a running GitHub stand-in (awssim.GitHub) and its API root.
type GitHub struct {
	*awssim.GitHub
	URL string
}

// StartGitHub serves a GitHub stand-in accepting tokens, until the test ends.
func StartGitHub(tb testing.TB, tokens ...string) *GitHub {
	tb.Helper()
	g := awssim.NewGitHub(tokens...)
	ts := httptest.NewServer(g)
	tb.Cleanup(ts.Close)
	return &GitHub{GitHub: g, URL: ts.URL}
}
