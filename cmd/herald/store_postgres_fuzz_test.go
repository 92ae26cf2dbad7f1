package main

import (
	"errors"
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
