package main

import (
	"testing"
)

// TestRelayConfigDuplicateKeys: a --config document that gives a key twice
// in one object, in any case (encoding/json matches "Topics" to "topics"),
// or a header twice in two cases, is refused with the key and its line,
// never a value. encoding/json kept the last of two keys silently, so a
// second "topics" widened a destination's events, a second "destinations"
// dropped every destination before it, and of two headers that differ only
// in case, one chosen at random each start was sent.
func TestRelayConfigDuplicateKeys(t *testing.T) {
	dir := t.TempDir()
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	o := runOpts{dir: dir}
	a := `{"name": "a", "url": "https://a.example/", "secret": "` + secret + `"}`
	cases := []struct{ name, doc, key string }{
		{"topics", `{"destinations": [{"name": "a", "url": "https://a.example/", "secret": "` + secret + `",
			"topics": ["billing:*"], "topics": ["**"]}]}`, `"topics"`},
		{"topics in another case", `{"destinations": [{"name": "a", "url": "https://a.example/", "secret": "` + secret + `",
			"topics": ["billing:*"], "Topics": ["**"]}]}`, `"Topics"`},
		{"destinations", `{"destinations": [` + a + `],` + "\n" + `"destinations": [` + a + `]}`, `"destinations"`},
		{"oauth2 key", `{"destinations": [{"name": "a", "url": "https://a.example/", "secret": "` + secret + `",
			"oauth2": {"token_url": "https://t.example/", "client_id": "r", "client_secret": "x", "scopes": ["a"], "scopes": ["b"]}}]}`, `"scopes"`},
		{"header in two cases", `{"destinations": [{"name": "a", "url": "https://a.example/", "secret": "` + secret + `",
			"headers": {"X-Env": "prod", "x-env": "dev"}}]}`, `"x-env"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			writeFile(t, dir, "c.json", c.doc)
			r := expect(t, o, 2, []string{"c.json", "line 2", "key " + c.key + " more than once"},
				"relay", "--store", "r.db", "--config", "c.json") // no inbound verifier: a config taken is exit 2 too, but says so
			noLeak(t, r.all(), secret, "prod", "dev", "billing")
		})
	}
}
