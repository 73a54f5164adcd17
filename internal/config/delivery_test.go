// The delivery lists' tests need the sink types, which register themselves from internal/sink
// (which imports config): they live in the external test package. Importing sink here also
// registers the types for the package's internal tests that name one (bounds, passwords).
package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keycycle/keycycle/internal/config"
	"github.com/keycycle/keycycle/internal/sink"
	"github.com/keycycle/keycycle/internal/sinkname"
	"github.com/keycycle/keycycle/internal/yamlfile"
)

func TestDeliveryDefaultsAndFullExample(t *testing.T) {
	c, err := config.Parse("empty.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(config.DefaultSinks(), c.Delivery.For("anything")); diff != "" {
		t.Fatalf("default delivery (-want +got):\n%s", diff)
	}
	src := `tags:
  owner: team-email
delivery:
  - type: secretsmanager
  - type: ssm
    kms_key_id: alias/keycycle
  - type: lambda
    function: rotation-handler
    required: false
    metadata:
      alice: {team: payments, tier: 1}
  - type: webhook
    url: https://hooks.example.com/keycycle
    signing_secret_env: KEYCYCLE_WEBHOOK_KEY
  - type: webhook
    url: http://127.0.0.1:9000/x
    signing_secret_env: OTHER_KEY
    include_secret: true
    attempts: 2
  - type: email
    from: keycycle@example.com
rules:
  - name: services
    match: {paths: [/service/]}
    delivery:
      - type: ssm
        name: params
        parameter: /apps/{{user}}/aws
`
	c, err = config.Parse("keycycle.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []config.Sink{
		{Name: "secretsmanager", Required: true, Settings: &sink.SecretsManagerConfig{}},
		{Name: "ssm", Required: true, Settings: &sink.SSMConfig{Parameter: config.DefaultParameterTemplate, KMSKeyID: "alias/keycycle"}},
		{Name: "lambda", Settings: &sink.LambdaConfig{Function: "rotation-handler", Metadata: map[string]any{"alice": map[string]any{"team": "payments", "tier": 1}}}},
		{Name: "webhook", Required: true, Settings: &sink.WebhookConfig{URL: "https://hooks.example.com/keycycle", SigningSecretEnv: "KEYCYCLE_WEBHOOK_KEY", Attempts: sink.DefaultWebhookAttempts}},
		{Name: "webhook-2", Required: true, Settings: &sink.WebhookConfig{URL: "http://127.0.0.1:9000/x", SigningSecretEnv: "OTHER_KEY", IncludeSecret: true, Attempts: 2}},
		{Name: "email", Required: true, Settings: &sink.EmailConfig{From: "keycycle@example.com", RecipientTag: sink.DefaultRecipientTag, OwnerTag: "team-email"}},
	}
	if diff := cmp.Diff(want, c.Delivery.For("default")); diff != "" {
		t.Fatalf("delivery (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]config.Sink{{Name: "params", Required: true, Settings: &sink.SSMConfig{Parameter: "/apps/{{user}}/aws"}}}, c.Delivery.For("services")); diff != "" {
		t.Fatalf("rule delivery (-want +got):\n%s", diff)
	}
}

func TestDeliveryProblemsNameTheirLines(t *testing.T) {
	src := `delivery:
  - type: webhook
    url: http://hooks.example.com/x
    signing_secret_env: "not a name"
  - type: ssm
    required: false
    function: x
  - type: carrier-pigeon
  - type: lambda
    function: handler
  - type: email
    from: not-an-address
    owner_tag: owner
  - type: ssm
    name: webhook
    parameter: x/{{user}}
  - type: webhook
    url: https://user:pw@hooks.example.com/
    include_secret: yes
    attempts: 0
  - type: ssm
    nonsense: 1
rules:
  - name: r
    match: {users: [a]}
    delivery: []
`
	_, err := config.Parse("k.yaml", []byte(src))
	var ps yamlfile.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want problems, got %v", err)
	}
	text := err.Error()
	for _, want := range []string{
		`k.yaml:2: delivery[0].type: the first sink is the primary one`,
		`k.yaml:3: delivery[0].url: the URL must be https (http only to a loopback address)`,
		`k.yaml:4: delivery[0].signing_secret_env: "not a name" is not an environment variable name`,
		`k.yaml:7: delivery[1].function: function does not apply to a ssm sink`,
		`k.yaml:9: delivery[3]: the handler fetches the key itself from a secret`,
		`k.yaml:8: delivery[2].type: unknown sink type "carrier-pigeon"`,
		`k.yaml:9: delivery[3]: the handler fetches the key itself`,
		`k.yaml:12: delivery[4].from: "not-an-address" is not an e-mail address`,
		`k.yaml:15: delivery[5].name: sink name "webhook" already used by entry 0`,
		`k.yaml:16: delivery[5].parameter: "x/{{user}}": a parameter name with a hierarchy starts with /`,
		`k.yaml:18: delivery[6].url: the URL must not carry a user or password`,
		`k.yaml:17: delivery[6]: a webhook sink needs signing_secret_env`,
		`k.yaml:20: delivery[6].attempts: must be 1 to 10`,
		`k.yaml:22: delivery[7].nonsense: unknown field "nonsense"`,
		`k.yaml:26: rules[0].delivery: a delivery list needs at least one sink`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, text)
		}
	}
}

func TestDeliveryRefusesTooManySinksAndEmailWithoutOwner(t *testing.T) {
	var b strings.Builder
	b.WriteString("tags:\n  owner: \"\"\ndelivery:\n  - type: secretsmanager\n    required: false\n")
	for i := 0; i < config.MaxSinks; i++ {
		b.WriteString("  - type: email\n    from: a@example.com\n")
	}
	_, err := config.Parse("k.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "at most 8 sinks") || !strings.Contains(err.Error(), "set owner_tag, or tags.owner") ||
		!strings.Contains(err.Error(), "k.yaml:5: delivery[0].required: the first sink is the primary one and must be required") {
		t.Fatalf("got %v", err)
	}
}

// A sink entry is decoded strictly by its type: a mistyped field is named with the field of that
// type it likely meant, a field of another type is refused as misplaced, a value of the wrong
// type names its line and field.
func TestSinkFieldsAreCheckedByType(t *testing.T) {
	_, err := config.Parse("k.yaml", []byte(`delivery:
  - type: ssm
    paramter: /keycycle/{{user}}
  - type: webhook
    url: https://hooks.example.com/k
    signing_secret_env: KEY
    attempts: many
  - type: email
    from: keycycle@example.com
    owner_tag: owner
    name_template: x
`))
	if err == nil {
		t.Fatal("want problems")
	}
	text := err.Error()
	for _, want := range []string{
		`k.yaml:3: delivery[0].paramter: unknown field "paramter", did you mean "parameter"?`,
		`k.yaml:7: delivery[1].attempts: expected a number, got a string`,
		`k.yaml:11: delivery[2].name_template: name_template does not apply to a email sink`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("problems lack %q:\n%s", want, text)
		}
	}
}

// Every registered sink type has a kind, its own fields (none shared with the common ones), and
// the messages list every type.
func TestSinkRegistry(t *testing.T) {
	kinds := config.SinkKinds()
	if len(kinds) < 6 {
		t.Fatalf("kinds %v", kinds)
	}
	_, err := config.Parse("k.yaml", []byte("delivery:\n  - type: pigeon\n"))
	if err == nil {
		t.Fatal("want a problem")
	}
	for _, k := range kinds {
		s, _ := config.NewSinkSettings(k)
		if s.Kind() != k || k.Service() == "" {
			t.Errorf("type %s: kind %q", k, s.Kind())
		}
		if !strings.Contains(err.Error(), string(k)) {
			t.Errorf("the unknown-type problem does not name %s: %v", k, err)
		}
	}
}

// otherKind says it is of kind ssm while registered as another type.
type otherKind struct{ sink.SSMConfig }

// A sink type is registered once, with settings of its own kind.
func TestRegisterSinkTypeRefusesMistakes(t *testing.T) {
	for name, st := range map[string]config.SinkType{
		"twice":      {Kind: "ssm", About: sinkname.About{Service: "x"}, New: func() config.SinkSettings { return &sink.SSMConfig{} }},
		"no New":     {Kind: "test-no-new", About: sinkname.About{Service: "x"}},
		"other kind": {Kind: "test-other", About: sinkname.About{Service: "x"}, New: func() config.SinkSettings { return &otherKind{} }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: registered", name)
				}
			}()
			config.RegisterSinkType(st)
		}()
	}
	for _, k := range config.SinkKinds() {
		if k == "test-no-new" || k == "test-other" {
			t.Errorf("%s was registered", k)
		}
	}
}
