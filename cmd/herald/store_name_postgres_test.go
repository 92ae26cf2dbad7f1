package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreNamePostgres: a postgres:// --store is named without its user,
// password and query, also when its socket is in ?host= and the URL names
// no host; a hostless path with an @ in it is not shown, nor a URL with
// an @ after a ?, # or / (the driver takes what comes before that @ for
// user information, net/url for the host: "u:1234" would print the start
// of a password 1234?x).
func TestStoreNamePostgres(t *testing.T) {
	for spec, want := range map[string]string{
		"postgres://u:pw@db.internal:5432/shop?sslmode=require": "postgres://db.internal:5432/shop",
		"postgres://u:pw@/shop?host=/var/run/postgresql":        "postgres:///shop",
		"postgresql:///shop":          "postgresql:///shop",
		"postgres:///pw@host/db":      "postgres://(unparsable URL, not shown)",
		"postgres://u:1234?x@host/db": "postgres://(unparsable URL, not shown)",
		"postgres://u:1234#x@host/db": "postgres://(unparsable URL, not shown)",
		"postgres://u:p@ss@host/db":   "postgres://host/db",
		"postgres://host/db?user=a@b": "postgres://(unparsable URL, not shown)",
		// The outbox's schema and prefix are shown: two relays on one
		// database differ by them alone. Nothing else of the query is.
		"postgres://u:pw@db/shop?herald_schema=billing&herald_prefix=eu&sslpassword=x": "postgres://db/shop?herald_prefix=eu&herald_schema=billing",
		"postgres://u:pw@db/shop?herald_schema=a%26b%3Dc":                              "postgres://db/shop?herald_schema=a%26b%3Dc",
	} {
		if got := storeName(spec); got != want {
			t.Errorf("storeName(%q) = %q, want %q", spec, got, want)
		}
	}
}

// TestStoreMistypedDSN: a --store that was meant as a connection string
// but names no engine is neither opened as a file (the relay would create
// one named after it) nor printed; nor is a NATS URL whose password holds
// an unencoded ?, which net/url would read as a query key.
func TestStoreMistypedDSN(t *testing.T) {
	for _, spec := range []string{
		"host=db.internal user=app password=Hunter2pw dbname=shop",
		"postgresql:/app:Hunter2pw@db.internal/shop",
		"postgres//app:Hunter2pw@db.internal/shop",
		"postgress://app:Hunter2pw@db.internal/shop",
		"NATS:/alice:Hunter2pw@nats.example:4222",
	} {
		dir := t.TempDir()
		r := expect(t, runOpts{dir: dir}, 1, []string{"not shown"}, "outbox", "stats", "--store", spec)
		if strings.Contains(r.stdout+r.stderr, "Hunter2pw") {
			t.Errorf("%q: the password is printed:\n%s%s", spec, r.stdout, r.stderr)
		}
		if _, err := openStore(context.Background(), spec, storeCreate, nil); err == nil || strings.Contains(err.Error(), "Hunter2pw") {
			t.Errorf("openStore(context.Background(), %q, create) = %v", spec, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%q: created %v", spec, entries)
		}
		if name := storeName(spec); strings.Contains(name, "Hunter2pw") {
			t.Errorf("storeName(%q) = %q", spec, name)
		}
	}
	// Paths in directories named like an engine are paths.
	t.Chdir(t.TempDir())
	for _, path := range []string{"postgres/outbox.db", "nats/outbox.db", "tls/outbox.db", "NATS/outbox.db"} {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		st, err := openStore(context.Background(), path, storeCreate, nil)
		if err != nil {
			t.Errorf("openStore(context.Background(), %q, create) = %v", path, err)
			continue
		}
		st.Close()
		if name := storeName(path); name != path {
			t.Errorf("storeName(%q) = %q", path, name)
		}
	}
	for _, spec := range []string{"nats://alice:1234?Hunter2pw@nats.example:4222", "nats://alice:1234?Hunter2pw=x@nats.example:4222"} {
		if _, err := parseNATSSpec(spec); err == nil || strings.Contains(err.Error(), "Hunter2pw") {
			t.Errorf("parseNATSSpec(%q) = %v", spec, err)
		}
	}
}
