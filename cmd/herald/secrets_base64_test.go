package main

import (
	"net/url"
	"strings"
	"testing"
)

// slashSecret is a Standard Webhooks secret whose base64 holds a '/'; its
// body without the whsec_ prefix is a secret as well (ParseStandardSecret
// takes it), and is what a user copies from many dashboards.
const slashSecret = "whsec_ZxmikX2UqEeibazHyYfU58tjsKJ7XSKu8/d0ZY0xZmc="

// TestSecretWithSlashGivenAsFileName: the base64 of a secret typed where a
// file name belongs is not echoed, though it holds a '/' as a path does,
// nor when the NATS client is the one that fails to open it (issue #14,
// 12; every command that takes a file name).
func TestSecretWithSlashGivenAsFileName(t *testing.T) {
	dir := t.TempDir()
	o := runOpts{dir: dir}
	writeFile(t, dir, "body.json", body)
	writeFile(t, dir, "h.txt", must(t, o, "sign", "--secret", slashSecret, "body.json").stdout)
	bare := strings.TrimPrefix(slashSecret, "whsec_")
	for _, args := range [][]string{
		{"verify", "--secret", slashSecret, "--headers", bare, "body.json"},
		{"verify", "--secret", slashSecret, "--headers", "h.txt", bare},
		{"sign", "--secret", slashSecret, bare},
		{"send", "--secret", slashSecret, "https://example.com/hook", bare},
		{"outbox", "stats", "--store", bare},
		{"relay", "--store", bare, "--dest", "https://example.com/hook", "--secret", slashSecret, "--in-insecure", "--listen", "127.0.0.1:0"},
		// The NATS client quotes the files it cannot open.
		{"relay", "--store", "nats://127.0.0.1:1", "--nats-creds", bare, "--dest", "https://example.com/hook", "--secret", slashSecret, "--in-insecure"},
		{"outbox", "stats", "--store", "nats://127.0.0.1:1?cacert=" + url.QueryEscape(bare)},
		{"outbox", "list", "--store", "nats://127.0.0.1:1", "--nats-cert", bare, "--nats-key", bare},
	} {
		r := herald(t, o, args...)
		if r.code == 0 {
			t.Errorf("herald %s: exit 0", args[0])
		}
		for _, leak := range []string{bare, bare[:20], bare[len(bare)-20:]} {
			if strings.Contains(r.all(), leak) {
				t.Errorf("herald %s echoed the secret:\n%s", args[0], r.all())
				break
			}
		}
	}
}

// TestLooksSecretPaths: what looksSecret takes for key material, and the
// paths it must leave visible.
func TestLooksSecretPaths(t *testing.T) {
	for s, want := range map[string]bool{
		strings.TrimPrefix(slashSecret, "whsec_"):                          true,
		"ZxmikX2UqEeibazHyYfU58tjsKJ7XSKu8d0ZY0xZmc":                       true, // no '/'
		"065d17d1c83b25f924f992507bd28f6c69795107916231a6aa39ee45157b50fd": true, // hex
		"body.json":                              false,
		"testdata/fixtures/webhook-payload.json": false,
		"/var/lib/herald/relay-outbox-2026Q1.db": false,
		"./relay.db":                             false,
		"events/2024/01/payloads/large":          false, // no upper case
		"s3cr3t":                                 false,
	} {
		if got := looksSecret(s); got != want {
			t.Errorf("looksSecret(%q) = %v, want %v", s, got, want)
		}
	}
}
