package main

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldhq/herald/outbox"
)

// FuzzPostgresStore: any --store text that picks PostgreSQL parses to a
// configuration or fails with ErrInvalid, never panics, no error quotes
// the password or the URL, herald's own parameters never reach the driver,
// and storeName never shows the start of the password the driver reads.
func FuzzPostgresStore(f *testing.F) {
	for _, s := range []string{
		"postgres://u:hunter2pass@db.internal:5432/shop?sslmode=require&herald_schema=s&herald_prefix=p_",
		"postgresql:///shop?host=/var/run/postgresql",
		"postgres://u:pw@/db?connect_timeout=soon",
		"postgres://%zz@host/db",
		"postgres://u:pw@[::1/db",
		"postgres://u:pw@host:99999999/db",
		"postgres://u:1234?x5@host/db",
		"postgres://u:pw@host/db?#herald_prefix=p_",
		"Postgres://u:pw@db.internal/shop?a=1 host=elsewhere sslrootcert=/nonexistent/ca.pem",
		"POSTGRESQL://db.internal/shop?sslmode=disable",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		if storeEngine(spec) != "postgres" {
			return
		}
		cfg, o, err := pgConfig(spec)
		if err != nil {
			if !errors.Is(err, outbox.ErrInvalid) {
				t.Fatalf("pgConfig error %v does not wrap ErrInvalid", err)
			}
			// A fixed text: nothing of the URL in it.
			if msg := err.Error(); !strings.HasSuffix(msg, "URL is not valid (not shown)") {
				t.Fatalf("the error says more than it should: %v", err)
			}
			return
		}
		if cfg == nil || o == nil {
			t.Fatal("no configuration and no error")
		}
		params := cfg.ConnConfig.RuntimeParams
		if _, ok := params["herald_schema"]; ok {
			t.Fatal("herald_schema reached the driver")
		}
		if _, ok := params["herald_prefix"]; ok {
			t.Fatal("herald_prefix reached the driver")
		}
		cc := cfg.ConnConfig
		// The driver connects to the host the URL names, whatever the
		// case of its scheme (the query may name others; libpq and
		// net/url disagree on a #, an @ or a %, left out here).
		if u, err := url.Parse(spec); err == nil && plainHost(u.Host) && !strings.ContainsAny(spec, "#@%") && !strings.Contains(strings.ToLower(u.RawQuery+u.Fragment), "host") &&
			!strings.Contains(strings.ToLower(u.RawQuery+u.Fragment), "service") && cc.Host != u.Host {
			t.Fatalf("pgConfig(%q) connects to %q, not the URL's host %q", spec, cc.Host, u.Host)
		}
		if pw := cc.Password; len(pw) >= 6 {
			// The schema and prefix are shown as typed: a password
			// typed into them is the user's to see.
			// Every host of a list is shown, not only the first.
			shown := cc.Host + ":" + strconv.Itoa(int(cc.Port)) + "/" + cc.Database + "?" + outboxQuery(spec)
			for _, fb := range cc.Fallbacks {
				shown += " " + fb.Host + ":" + strconv.Itoa(int(fb.Port))
			}
			// The scheme is no part of the password, though "postgres:"
			// holds "res:" by chance.
			_, name, _ := strings.Cut(storeName(spec), ":")
			if start := pw[:4]; strings.Contains(name, start) && !strings.Contains(shown, start) {
				t.Fatalf("storeName(%q) = %q shows the start of the password", spec, storeName(spec))
			}
		}
	})
}

// plainHost reports whether h is a host name of letters, digits, dots and
// hyphens, with no port, escape or list.
func plainHost(h string) bool {
	if h == "" {
		return false
	}
	for _, c := range h {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
