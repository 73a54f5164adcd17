package sinkname

import "testing"

// What a person is told about a kind comes from its registration; a kind nobody registered has
// no words and no command, and a kind is registered once.
func TestKindsAreRegistered(t *testing.T) {
	const k Kind = "test-store"
	if k.Service() != "" || k.FetchCommand("n", "r") != "" {
		t.Fatal("an unregistered kind has words")
	}
	Register(k, About{Service: "a test store", Fetch: func(name, region string) string { return "fetch " + ShellQuote(name) + " " + region }})
	Register("test-push", About{Service: "a test push"})
	if k.Service() != "a test store" || k.FetchCommand("a b", "r") != "fetch 'a b' r" || Kind("test-push").FetchCommand("n", "r") != "" {
		t.Fatalf("registered: %q %q", k.Service(), k.FetchCommand("a b", "r"))
	}
	found := 0
	for _, x := range Kinds() {
		if x == k || x == "test-push" {
			found++
		}
	}
	if found != 2 {
		t.Fatalf("Kinds() = %v", Kinds())
	}
	for name, register := range map[string]func(){
		"twice":           func() { Register(k, About{Service: "again"}) },
		"without service": func() { Register("test-mute", About{}) },
		"empty kind":      func() { Register("", About{Service: "x"}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			register()
		}()
	}
}
