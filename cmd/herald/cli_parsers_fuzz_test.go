package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// tricky are the seeds every fuzz target below starts from: empty, huge,
// NUL, line breaks, non-UTF-8, terminal escapes, the @ and @@ forms, odd
// durations and overflows.
var tricky = []string{
	"", " ", ",", "@", "@@", "@@x", "@/dev/null", "env:", "env:HOME", "env:whsec_x",
	"\x00", "a\x00b", "\r\n", "a\rb", "a\nb", "\xff\xfe", "a\xc3", "\x1b[31mred\x1b]0;t\x07", "\u009b2J",
	"a\u2028b", "a\u202eb", "\u2066a", "a\u200d\u00a0b",
	"1e308h", "-0s", "-1ns", "9223372036854775807ns", "9223372036854775808ns", "2562048h", ".s", "1.s", "+5s",
	"0s,1s,5s,1m", "1s,,2s", " 1s , 2s ", "job.*", "job.**", "**", "a..b", "a.", ".a", "*.>", "events", "acme.events",
	"whsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "whpk_x", "https://x/jwks",
	"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----",
	"u:hunter2@db/x", "redis://u:pw@h/0", "postgresql:/x", "nats//h", "postgres/outbox.db", "tls:", "host=db password=pw",
	"POST /hook HTTP/1.1\nWebhook-Id: m1\n\nX: y", "A: b\r\nA: c\r\n", "#c\n: v", "Bad Name: v",
	strings.Repeat("a", 300), strings.Repeat("a.", 100), strings.Repeat("1s,", 1000),
}

// FuzzParseHeaders: verify's --headers file parses to headers whose
// names are tokens, which written back as lines parse to the same headers;
// a refusal gives the line number but never the line.
func FuzzParseHeaders(f *testing.F) {
	for _, s := range tricky {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHeaders(data)
		if err != nil {
			for _, line := range strings.Split(string(data), "\n") {
				if line = strings.TrimSpace(line); len(line) >= 8 && strings.Contains(err.Error(), line) {
					t.Fatalf("the error %q quotes the line %q", err, line)
				}
			}
			return
		}
		var b strings.Builder
		for name, vs := range h {
			if !wire.IsToken(name) {
				t.Fatalf("accepted the header name %q", name)
			}
			for _, v := range vs {
				b.WriteString(name + ": " + v + "\n")
			}
		}
		again, err := parseHeaders([]byte(b.String()))
		if err != nil || !sameHeader(h, again) {
			t.Fatalf("%q parsed to %q, which written again parses to %q, %v", data, h, again, err)
		}
	})
}

// sameHeader reports whether a and b hold the same values by name.
func sameHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, vs := range a {
		if strings.Join(vs, "\x00") != strings.Join(b[k], "\x00") || len(vs) != len(b[k]) {
			return false
		}
	}
	return true
}

// FuzzParseSchedule: --schedule accepts comma-separated durations that are
// not negative, each of which prints and parses back to itself; a refusal
// names the flag.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := parseSchedule(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--schedule: ") {
				t.Fatalf("the error %q does not name the flag", err)
			}
			return
		}
		parts := strings.Split(s, ",")
		if len(ds) != len(parts) {
			t.Fatalf("%q: %d delays from %d parts", s, len(ds), len(parts))
		}
		for i, d := range ds {
			if again, err := time.ParseDuration(d.String()); d < 0 || err != nil || again != d {
				t.Fatalf("%q: delay #%d %v does not round-trip (%v, %v)", s, i+1, d, again, err)
			}
		}
	})
}

// FuzzConfigNames: a destination name checkDestName accepts is one the
// outbox takes, and one it refuses, the outbox refuses; topic patterns checkTopics accepts are patterns
// Destination.Wants can use; an --events-subject checkEventsSubject
// accepts is dot-separated literal tokens of printable UTF-8. A refused
// subject's error names the flag.
func FuzzConfigNames(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	store := outbox.NewMemory()
	f.Fuzz(func(t *testing.T, s string) {
		nameErr := checkDestName(s)
		queue := &outbox.Queue{Outbox: store, Sender: &sender.Sender{},
			Destinations: []sender.Destination{{Name: s, URL: "https://example.com/hook"}}}
		_, putErr := queue.Prepare(s, sender.Message{ID: "fuzz-1", Topic: "job:ready", Body: []byte("{}")})
		if nameErr == nil && putErr != nil {
			t.Fatalf("checkDestName took %q, which the outbox refuses: %v", s, putErr)
		}
		if nameErr != nil && putErr == nil {
			t.Fatalf("checkDestName refused %q, which the outbox takes: %v", s, nameErr)
		}
		if err := checkTopics([]string{s}); err == nil {
			d := sender.Destination{Topics: []string{s}}
			_ = d.Wants("job:ready") // must not panic
		}
		if err := checkEventsSubject(s); err != nil {
			if !strings.HasPrefix(err.Error(), "--events-subject") {
				t.Fatalf("the error %q does not name the flag", err)
			}
		} else {
			for tok := range strings.SplitSeq(s, ".") {
				if tok == "" || !utf8.ValidString(tok) || strings.ContainsFunc(tok, func(r rune) bool {
					return r == ' ' || !unicode.IsPrint(r) || r == '*' || r == '>'
				}) {
					t.Fatalf("checkEventsSubject took %q", s)
				}
			}
		}
	})
}

// FuzzStoreNameOther: a --store that is no PostgreSQL URL (a file path, a
// NATS URL, any other scheme) is shown by storeName without its user
// information: no password typed in it is ever shown, and a value that
// looksLikeDSN calls a connection string is never shown as typed.
func FuzzStoreNameOther(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Add("nats://u:hunter2pass@h:4222,nats://v:otherpass@g:4222")
	f.Add("tls://tok3nsecret@h:4222/p?x=1")
	f.Add("nats://h1,u:pass@h2")
	f.Fuzz(func(t *testing.T, spec string) {
		if storeEngine(spec) == "postgres" {
			return // FuzzPostgresStore
		}
		name := storeName(spec)
		if looksLikeDSN(spec) && storeEngine(spec) == "bolt" && name == spec {
			t.Fatalf("storeName shows %q, a connection string, as typed", spec)
		}
		for _, p := range strings.Split(spec, ",") {
			_, rest, ok := strings.Cut(p, "://")
			if !ok {
				continue
			}
			userinfo, _, ok := strings.Cut(rest, "@")
			if _, pw, ok2 := strings.Cut(userinfo, ":"); ok && ok2 && len(pw) >= 6 && strings.Contains(name, pw) &&
				!strings.Contains(strings.Replace(spec, pw, "", 1), pw) {
				t.Fatalf("storeName(%q) = %q shows the password %q", spec, name, pw)
			}
		}
	})
}

// FuzzResolveKey: a --key, --pubkey or client certificate value resolves
// to its key material, or to an error that shows neither the value nor
// the secret a variable or file holds. Files are the fuzzer's only by
// @FILE and FILE of a fixed directory: never /dev/tty or a FIFO.
func FuzzResolveKey(f *testing.F) {
	for _, s := range tricky {
		f.Add(s, []byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, v string, content []byte) {
		if v != "" && v[0] == '@' || !strings.HasPrefix(v, "env:") && !strings.HasPrefix(v, "whsk_") &&
			!strings.HasPrefix(v, "whpk_") && !strings.Contains(v, "-----BEGIN ") {
			// A file the fuzzer names: only "key" in dir.
			file := filepath.Join(dir, "key")
			if err := os.WriteFile(file, content, 0o600); err != nil {
				t.Fatal(err)
			}
			v = strings.Replace(v[:min(len(v), 2)], "@", "@"+file, 1)
			if !strings.HasPrefix(v, "@") {
				v = file
			}
		}
		if strings.HasPrefix(v, "env:") {
			content = bytes.ReplaceAll(content, []byte{0}, nil) // no NUL in a variable
			t.Setenv("HERALD_FUZZ_KEY", string(content))
			v = "env:HERALD_FUZZ_KEY"
		}
		secret := strings.TrimSpace(string(content))
		check := func(fn string, err error) {
			if err == nil {
				return
			}
			msg := err.Error()
			if len(secret) >= 8 && strings.Contains(msg, secret) || len(v) >= 8 && strings.Contains(msg, v) {
				t.Fatalf("%s(%q): the error %q shows the value or the secret", fn, v, msg)
			}
		}
		b, err := resolveKey(v, "whsk_")
		check("resolveKey", err)
		if err == nil && strings.HasPrefix(v, "whsk_") && string(b) != v {
			t.Fatalf("resolveKey(%q) = %q", v, b)
		}
		_, err = resolvePEM(v)
		check("resolvePEM", err)
		sf := schemeFlags{scheme: "jwt", keys: []string{v}}
		if _, err := sf.loadPrivateKeys(); err != nil {
			check("loadPrivateKeys", err)
			if !strings.Contains(err.Error(), "--key") {
				t.Fatalf("the error %q does not name the flag", err)
			}
		}
		_, err = loadClientCert(v, v, "--client-cert", "--client-key")
		check("loadClientCert", err)
		if err != nil && !strings.Contains(err.Error(), "--client-") {
			t.Fatalf("the error %q does not name the flag", err)
		}
	})
}
