package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStoreNotAFileUsageError: a --store that is a directory, a device or
// a file in a directory that does not exist is a usage error (exit 2) for
// relay as it is for herald outbox.
func TestStoreNotAFileUsageError(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "outbox.d")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	o := runOpts{dir: dir}
	for _, store := range []string{sub, os.DevNull, filepath.Join(dir, "missing", "relay.db")} {
		expect(t, o, 2, nil, "outbox", "stats", "--store", store)
		r := herald(t, o, "relay", "--listen", "127.0.0.1:0", "--in-insecure", "--store", store,
			"--dest", "https://127.0.0.1:1/", "--allow-private", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
		if r.code != 2 {
			t.Errorf("relay --store %s: exit %d, want 2 as herald outbox\n%s", store, r.code, r.stderr)
		}
	}
}
