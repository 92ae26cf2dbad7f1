package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs herald in this process, as main does, and returns what it
// printed and its exit status.
func runCLI(args ...string) result {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return result{stdout.String(), stderr.String(), code}
}

// noPart fails if out holds any 8 characters in a row of one of the
// secrets (past a whsec_-style prefix, which is not secret).
func noPart(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if _, rest, ok := strings.Cut(s, "_"); ok && len(rest) >= 16 {
			s = rest
		}
		for i := 0; i+8 <= len(s); i++ {
			if w := s[i : i+8]; strings.TrimSpace(w) == w && strings.Contains(out, w) {
				t.Errorf("output holds %q, a part of a secret:\n%s", w, out)
				return
			}
		}
	}
}

// TestSecretGivenAsFileName: a secret or key typed where a file name (or
// an environment variable's name, a URL, a command) belongs is never
// echoed, in any path that reads one: --secret, --in-secret, --key,
// --pubkey, --tls-key, a relay configuration's secret and key, verify
// --headers, the body argument, flag values, commands and actions. The
// starting code printed "open whsec_…: no such file or directory" for
// some of these.
func TestSecretGivenAsFileName(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	o := runOpts{dir: dir}
	std := strings.TrimSpace(must(t, o, "keygen").stdout)
	hub := strings.TrimSpace(must(t, o, "keygen", "--scheme", "hub").stdout)
	hs := strings.TrimSpace(must(t, o, "keygen", "--scheme", "jwt", "--alg", "HS384").stdout)
	v1a := strings.Fields(must(t, o, "keygen", "--scheme", "standard-v1a").stdout)
	must(t, o, "keygen", "--scheme", "jwt", "--alg", "ES256", "--out", "es")
	keyPEM, err := os.ReadFile(filepath.Join(dir, "es.key"))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(filepath.Join(dir, "es.pub"))
	if err != nil {
		t.Fatal(err)
	}
	key, pub := string(keyPEM), string(pubPEM)
	secrets := []string{std, hub, hs, v1a[0], v1a[1], pemBody(keyPEM), pemBody(pubPEM)}
	writeFile(t, dir, "body.json", body)
	writeFile(t, dir, "h.txt", must(t, o, "sign", "--secret", std, "body.json").stdout)
	// A directory named like a secret: opening it works, reading it fails.
	if err := os.Mkdir(filepath.Join(dir, hs), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := func(name, entry string) string {
		return writeFile(t, dir, name, `{"destinations": [{"name": "a", "url": "https://a.example/", `+entry+`}]}`)
	}
	cfg("secretfile.json", `"secret": "@`+std+`"`)
	cfg("secretenv.json", `"scheme": "hub", "secret": "env:`+hub+`"`)
	cfg("keyfile.json", `"scheme": "jwt", "key": `+jsonString(key))
	cfg("v1akey.json", `"scheme": "standard-v1a", "key": "@`+v1a[0]+`"`)
	dest := []string{"--dest", "https://example.com/hook", "--secret", std}

	cases := []struct {
		name string
		want string
		args []string
	}{
		{"--secret @secret", "--secret #1: cannot read the file it names: no such file", []string{"sign", "--secret", "@" + std, "body.json"}},
		{"--secret=@secret", "--secret #1: cannot read the file it names", []string{"sign", "--secret=@" + std, "body.json"}},
		{"--secret @hub secret", "--secret #1: cannot read the file it names", []string{"sign", "--scheme", "hub", "--secret", "@" + hub, "body.json"}},
		{"--secret @directory", "--secret #1: cannot read the file it names: is a directory", []string{"sign", "--scheme", "jwt", "--secret", "@" + hs, "body.json"}},
		{"--secret env:secret", "--secret #1: the environment variable it names is not set", []string{"sign", "--scheme", "hub", "--secret", "env:" + hub, "body.json"}},
		{"--key secret", "--key #1: neither a whsk_ key nor a readable file", []string{"sign", "--scheme", "jwt", "--key", key, "body.json"}},
		{"--key @whsk_", "--key #1: cannot read the file it names", []string{"sign", "--scheme", "standard-v1a", "--key", "@" + v1a[0], "body.json"}},
		{"--key directory", "--key #1: cannot read the file it names: is a directory", []string{"sign", "--scheme", "jwt", "--key", hs, "body.json"}},
		{"--pubkey PEM", "--pubkey #1: neither", []string{"verify", "--scheme", "jwt", "--pubkey", pub, "--headers", "h.txt", "body.json"}},
		{"--pubkey @whpk_", "--pubkey #1: cannot read the file it names", []string{"verify", "--scheme", "standard-v1a", "--pubkey", "@" + v1a[1], "--headers", "h.txt", "body.json"}},
		{"verify --headers secret", "cannot read --headers file (the name looks like a key", []string{"verify", "--secret", std, "--headers", std, "body.json"}},
		{"verify --headers directory", "cannot read --headers file (the name looks like a key", []string{"verify", "--secret", std, "--headers", hs, "body.json"}},
		{"verify body secret", "cannot read body file (the name looks like a key", []string{"verify", "--secret", std, "--headers", "h.txt", hub}},
		{"sign body secret", "cannot read body file (the name looks like a key", []string{"sign", "--secret", std, std}},
		{"send --secret @secret", "--secret #1: cannot read the file it names", []string{"send", "--secret", "@" + std, "https://example.com/", "body.json"}},
		{"send URL secret", "herald send", []string{"send", "--secret", std, hs, "body.json"}},
		{"listen --secret @secret", "--secret #1: cannot read the file it names", []string{"listen", "--secret", "@" + std}},
		{"listen argument secret", "unexpected argument (an argument that looks like a key; not shown)", []string{"listen", "--secret", std, hub}},
		{"listen --tls-key PEM", "cannot read the --tls-key file: no such file", []string{"listen", "--secret", std, "--tls-cert", "es.pub", "--tls-key", key}},
		{"listen --tls-key secret", "cannot read the --tls-key file", []string{"listen", "--secret", std, "--tls-cert", "es.pub", "--tls-key", std}},
		{"relay --in-secret @secret", "--in-secret #1: cannot read the file it names", append([]string{"relay", "--store", "r.db", "--in-secret", "@" + std}, dest...)},
		{"relay --in-pubkey PEM", "--in-pubkey #1: neither", append([]string{"relay", "--store", "r.db", "--in-scheme", "jwt", "--in-pubkey", pub}, dest...)},
		{"relay --secret @secret", "--secret #1: cannot read the file it names", []string{"relay", "--store", "r.db", "--in-insecure", "--dest", "https://example.com/", "--secret", "@" + hub}},
		{"relay --tls-key secret", "cannot read the --tls-key file", append([]string{"relay", "--store", "r.db", "--in-insecure", "--tls-cert", "es.pub", "--tls-key", key}, dest...)},
		{"config secret @file", `destination "a": secret #1: cannot read the file it names`, []string{"relay", "--store", "r.db", "--in-insecure", "--config", "secretfile.json"}},
		{"config secret env:", `destination "a": secret #1: the environment variable it names is not set`, []string{"relay", "--store", "r.db", "--in-insecure", "--config", "secretenv.json"}},
		{"config key PEM", `destination "a": key #1: neither`, []string{"relay", "--store", "r.db", "--in-insecure", "--config", "keyfile.json"}},
		{"config key @whsk_", `destination "a": key #1: cannot read the file it names`, []string{"relay", "--store", "r.db", "--in-insecure", "--config", "v1akey.json"}},
		{"relay --config secret", "cannot read --config file (the name looks like a key", []string{"relay", "--store", "r.db", "--in-insecure", "--config", std}},
		{"relay --cacert secret", "cannot read --cacert file (the name looks like a key", append([]string{"relay", "--store", "r.db", "--in-insecure", "--cacert", hs}, dest...)},
		{"relay argument secret", "unexpected argument (an argument", append([]string{"relay", "--store", "r.db", "--in-insecure", v1a[0]}, dest...)},
		{"flag value secret", "invalid value", []string{"sign", "--secret", std, "--ttl", hs, "body.json"}},
		// A base64url key starts with "-" one time in 64; flag then reports
		// "bad flag syntax" rather than "not defined". Both are run, always.
		{"flag name secret", "not defined", []string{"sign", "--" + strings.TrimLeft(hs, "-"), "body.json"}},
		{"flag name secret starting with -", "bad flag syntax", []string{"sign", "---" + hs, "body.json"}},
		{"command secret", "unknown command (an argument", []string{std}},
		{"help command secret", "unknown command (an argument", []string{"help", hub}},
		{"relay --store secret", "--store: the name looks like a key", append([]string{"relay", "--in-insecure", "--store", std}, dest...)},
		{"outbox --store secret", "--store: the name looks like a key", []string{"outbox", "list", "--store", hub}},
		{"outbox action secret", "unknown action (an argument", []string{"outbox", std, "--store", "r.db"}},
		{"scheme secret", "unknown scheme (an argument", []string{"sign", "--scheme", std, "body.json"}},
		{"keygen scheme secret", "unknown scheme (an argument", []string{"keygen", "--scheme", hub}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(c.args...)
			if r.code == 0 {
				t.Fatalf("exit 0\nstdout: %s", r.stdout)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, c.want)
			}
			noPart(t, r.all(), secrets...)
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "r.db")); err == nil {
		t.Errorf("a relay that did not start created its store")
	}
}

// jsonString returns s as a JSON string.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestEnvNameShown: an environment variable's name written as such names
// are is still shown when it is not set; only an unusual one is hidden.
func TestEnvNameShown(t *testing.T) {
	r := runCLI("sign", "--secret", "env:HERALD_TEST_UNSET_1", "-")
	if r.code != exitUsage || !strings.Contains(r.stderr, "environment variable HERALD_TEST_UNSET_1 is not set") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestSecretTrailingNewline: a secret read from the environment loses its
// trailing newline as one read from a file does (a Kubernetes secret made
// from a file keeps it), so both forms sign alike.
func TestSecretTrailingNewline(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	o := runOpts{dir: dir}
	writeFile(t, dir, "body.json", body)
	writeFile(t, dir, "secret.txt", "a-hub-secret-of-32-bytes-or-more\n")
	t.Setenv("HERALD_TEST_HUB_SECRET", "a-hub-secret-of-32-bytes-or-more\r\n")
	sign := func(secret string) string {
		return must(t, o, "sign", "--scheme", "hub", "--secret", secret, "--id", "msg_1", "--timestamp", "1700000000", "body.json").stdout
	}
	plain, file, env := sign("a-hub-secret-of-32-bytes-or-more"), sign("@secret.txt"), sign("env:HERALD_TEST_HUB_SECRET")
	if file != plain || env != plain {
		t.Fatalf("signatures differ:\nvalue %s\nfile  %s\nenv   %s", plain, file, env)
	}
}
