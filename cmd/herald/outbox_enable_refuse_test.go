package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutboxEnableRefusesNonOutbox: herald outbox enable, the one admin
// action added after issue #14 that writes, opens an existing outbox only,
// like the others: a missing, empty or foreign file is refused and left
// exactly as it was (issue #14, 11).
func TestOutboxEnableRefusesNonOutbox(t *testing.T) {
	dir := t.TempDir()
	o := runOpts{dir: dir}
	writeFile(t, dir, "empty.db", "")
	bboltFile(t, filepath.Join(dir, "theirs.db"), "theirs")
	bboltFile(t, filepath.Join(dir, "emptybolt.db"))
	for name, want := range map[string]string{
		"missing.db":   "no such file (herald outbox never creates one)",
		"empty.db":     "the file is empty, not an outbox",
		"theirs.db":    "a bbolt file, but not a herald outbox",
		"emptybolt.db": "an empty bbolt file, not a herald outbox",
	} {
		path := filepath.Join(dir, name)
		before := snap(t, path)
		r := herald(t, o, "outbox", "enable", "--store", name, "--dest", "a")
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("outbox enable --store %s: exit %d, %q; want a refusal saying %q", name, r.code, r.stderr, want)
		}
		if after := snap(t, path); after.exists != before.exists || !bytes.Equal(after.data, before.data) || after.size != before.size {
			t.Errorf("outbox enable --store %s changed the file: before %+v, after %+v", name, before, after)
		}
	}
}
