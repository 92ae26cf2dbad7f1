package main

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseNATSSpec(t *testing.T) {
	s, err := parseNATSSpec("nats://u:p%40ss@a:4222?stream=S&replicas=3,tls://b:4222?creds=x.creds&stream=S")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.servers, " "); got != "nats://u:p%40ss@a:4222 tls://b:4222" {
		t.Errorf("servers %q", got)
	}
	if s.stream != "S" || s.replicas != 3 || s.files.creds != "x.creds" || s.subject != "" {
		t.Errorf("parsed %+v", s)
	}
	if got := storeName("nats://u:secret@a:4222/x?token=t,nats://b:1"); got != "nats://a:4222,nats://b:1" {
		t.Errorf("storeName printed %q", got)
	}
	if got := storeName("nats://u:sec,ret@a:4222"); strings.Contains(got, "ret") || strings.Contains(got, "sec") {
		t.Errorf("storeName printed %q, a part of a password", got)
	}
	// A later server that is no URL at all, with what looks like a token
	// in it (found by FuzzNATSSpec): the error must not quote it.
	if _, err := parseNATSSpec("tls://a:1,://tok3n@"); err == nil || strings.Contains(err.Error(), "tok3n") {
		t.Errorf("parseNATSSpec with an unparsable second server: %v", err)
	}
	for _, bad := range []string{"nats://", "nats://a:1/path", "nats://a:1#f", "http://a:1", "nats://a:1?stream=A,nats://b:1?stream=B", "nats://a:1?replicas=0", "nats://a:1?stream=%zz"} {
		if _, err := parseNATSSpec(bad); err == nil {
			t.Errorf("parseNATSSpec(%q) accepted it", bad)
		}
	}
}

// FuzzNATSSpec checks that a NATS --store never panics the parser, that
// what it accepts connects only to nats:// and tls:// servers, and that
// storeName never prints the user information or query of any of its URLs.
func FuzzNATSSpec(f *testing.F) {
	for _, s := range []string{"nats://127.0.0.1:4222", "nats://u:p@h:1?stream=S&subject=a.b&replicas=3",
		"tls://tok@h:1,nats://h2:2?creds=c", "nats://u:p,q@h:1", "nats://%zz@h", "nats://h:1?x=%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		if storeEngine(spec) != "nats" {
			return
		}
		name := storeName(spec)
		if strings.ContainsAny(name, "@?") {
			t.Fatalf("storeName(%q) = %q", spec, name)
		}
		s, err := parseNATSSpec(spec)
		if err != nil {
			// The errors' own words may hold a short user name by chance
			// ("eam=" is in "?stream=…"): what is left without them
			// must not.
			msg := err.Error()
			for _, fixed := range natsErrorWords {
				msg = strings.ReplaceAll(msg, fixed, "|")
			}
			for part := range strings.SplitSeq(spec, ",") {
				_, rest, _ := strings.Cut(part, "://")
				if user, _, ok := strings.Cut(rest, "@"); ok && len(user) >= 4 && strings.Contains(msg, user) {
					t.Fatalf("error %q quotes the user information of %q", err, spec)
				}
			}
			return
		}
		for _, srv := range s.servers {
			u, err := url.Parse(srv)
			if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" || u.RawQuery != "" {
				t.Fatalf("parseNATSSpec(%q) gives server %q", spec, srv)
			}
			if u.User != nil {
				if p, ok := u.User.Password(); ok && len(p) >= 6 && strings.Contains(name, p) && !strings.Contains(u.Host, p) {
					t.Fatalf("storeName(%q) = %q shows the password", spec, name)
				}
			}
		}
	})
}

// natsErrorWords are the fixed words of parseNATSSpec's errors.
var natsErrorWords = []string{
	"--store: server ", " is not a URL", "want a nats:// or tls:// URL",
	"want nats://[USER:PASSWORD@]HOST:PORT[?stream=…]", "malformed query",
	"--store: two values of ", " in the query", "--store: unknown query key ",
	"(want " + strings.Join(natsQueryKeys, ", ") + ")",
}
