package main

import "testing"

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
	} {
		if got := storeName(spec); got != want {
			t.Errorf("storeName(%q) = %q, want %q", spec, got, want)
		}
	}
}
