package job_test

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/crypto/nacl/box"

	"github.com/keycycle/keycycle/internal/awssim/awssimtest"
	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/rotation"
	"github.com/keycycle/keycycle/internal/sink"
)

// githubSecret opens a secret the GitHub stand-in stores with the collection's key pair.
func githubSecret(t *testing.T, gh *awssimtest.GitHub, path, name string) (string, bool) {
	t.Helper()
	tgt, priv, ok := gh.Target(path)
	if !ok {
		t.Fatalf("no collection %s", path)
	}
	s, ok := tgt.Secrets[name]
	if !ok {
		return "", false
	}
	sealed, err := base64.StdEncoding.DecodeString(s.EncryptedValue)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	var sk, pk [32]byte
	copy(sk[:], priv)
	copy(pk[:], k.PublicKey().Bytes())
	out, ok := box.OpenAnonymous(nil, sealed, &pk, &sk)
	if !ok {
		t.Fatalf("%s/%s does not open", path, name)
	}
	return string(out), true
}

func newGitHubEnv(t *testing.T) (*deliveryEnv, *awssimtest.GitHub) {
	t.Helper()
	d := newDeliveryEnv(t)
	gh := awssimtest.StartGitHub(t, "ghp_e2e_token")
	gh.AddRepository("acme/due")
	gh.AddRepository("acme/svc")
	if _, err := secretsmanager.NewFromConfig(d.cfg).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String("keycycle/github-token"), SecretString: aws.String(`{"token": "ghp_e2e_token"}`)}); err != nil {
		t.Fatal(err)
	}
	return d, gh
}

func githubSink(gh *awssimtest.GitHub, repo string, required bool) config.Sink {
	return config.Sink{Name: "github", Required: required, Settings: &sink.GitHubConfig{Repository: repo, TokenSecret: "keycycle/github-token",
		APIURL: gh.URL, KeyIDName: "AWS_ACCESS_KEY_ID", SecretKeyName: "AWS_SECRET_ACCESS_KEY"}}
}

// TestGitHubSinkDeliversTheNewKeyAsActionsSecrets: after a rotation the repository's two
// secrets open, with the repository's private key, to the new key that Secrets Manager holds
// and that works; the token came from Secrets Manager.
func TestGitHubSinkDeliversTheNewKeyAsActionsSecrets(t *testing.T) {
	d, gh := newGitHubEnv(t)
	res := d.applyWith(t, config.Delivery{Sinks: append(d.sinks("secretsmanager"), githubSink(gh, "acme/{{user}}", true))})
	for _, user := range []string{"due", "svc"} {
		r := rotateResult(t, res, user)
		if r.Outcome != rotation.Done || sinkOutcomes(r)["github"] != rotation.SinkDelivered {
			t.Fatalf("%s: %s %s %+v", user, r.Outcome, r.Detail, r.Sinks)
		}
		id, sec, ok := d.secretValue(t, user, "AWSCURRENT")
		if !ok || id != r.NewKeyID.Raw() {
			t.Fatalf("%s: Secrets Manager holds %s", user, id)
		}
		gotID, _ := githubSecret(t, gh, "repos/acme/"+user, "AWS_ACCESS_KEY_ID")
		gotSec, _ := githubSecret(t, gh, "repos/acme/"+user, "AWS_SECRET_ACCESS_KEY")
		if gotID != id || gotSec != sec {
			t.Fatalf("%s: the repository's secrets open to %s and another secret than the stored key", user, gotID)
		}
		mustAuth(t, d.env, gotID, gotSec)
	}
}

// TestGitHubSinkIsTransactional: a required github sink that cannot write (unknown
// repository) rolls the rotation back; an optional one is reported and the rotation stands.
func TestGitHubSinkIsTransactional(t *testing.T) {
	d, gh := newGitHubEnv(t)
	res := d.applyWith(t, config.Delivery{Sinks: append(d.sinks("secretsmanager"), githubSink(gh, "acme/gone-{{user}}", true))})
	r := rotateResult(t, res, "due")
	if r.Outcome != rotation.Failed || sinkOutcomes(r)["github"] != rotation.SinkFailed {
		t.Fatalf("required github sink failing: %s %+v", r.Outcome, r.Sinks)
	}
	if keys := d.keys(t, "due"); len(keys) != 1 {
		t.Fatalf("the new key was not deleted by the rollback: %+v", keys)
	}
	if r.Err == nil || strings.Contains(r.Err.Error(), "ghp_e2e_token") || !strings.Contains(r.Err.Error(), "acme/gone-due") {
		t.Fatalf("error %v: want the target named, never the token", r.Err)
	}

	d2, gh2 := newGitHubEnv(t)
	res = d2.applyWith(t, config.Delivery{Sinks: append(d2.sinks("secretsmanager"), githubSink(gh2, "acme/gone-{{user}}", false))})
	r = rotateResult(t, res, "due")
	if r.Outcome != rotation.Done || sinkOutcomes(r)["github"] != rotation.SinkFailed {
		t.Fatalf("optional github sink failing: %s %+v", r.Outcome, r.Sinks)
	}
	if keys := d2.keys(t, "due"); len(keys) != 2 {
		t.Fatalf("an optional sink's failure must not roll back: %+v", keys)
	}
}
