package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/filesnap"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
)

// bboltFile writes a bbolt file at path with the given buckets (none: an
// empty bbolt file).
func bboltFile(t *testing.T, path string, buckets ...string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOutboxRefusesNonOutbox: every herald outbox action refuses a --store
// that is missing, empty or not a herald outbox, with a clear message and
// exit status, and leaves it byte for byte as it was, mtime included (or
// missing). The starting code made each of them a new, empty outbox.
func TestOutboxRefusesNonOutbox(t *testing.T) {
	dir := t.TempDir()
	o := runOpts{dir: dir}
	files := []struct {
		name string
		make func(path string)
		code int
		want string
	}{
		{"missing.db", func(string) {}, 2, "no such file (herald outbox never creates one)"},
		{"empty.db", func(p string) { writeFile(t, dir, filepath.Base(p), "") }, 2, "the file is empty, not an outbox"},
		{"notes.txt", func(p string) { writeFile(t, dir, filepath.Base(p), strings.Repeat("not an outbox\n", 800)) }, 1, "not a valid bbolt file"},
		{"emptybolt.db", func(p string) { bboltFile(t, p) }, 1, "an empty bbolt file, not a herald outbox"},
		{"theirs.db", func(p string) { bboltFile(t, p, "theirs") }, 1, "a bbolt file, but not a herald outbox"},
	}
	actions := [][]string{{"stats"}, {"list"}, {"list", "--dest", "a"}, {"states"}, {"replay", "--all"}, {"purge", "--id", "x"}, {"enable", "--dest", "a"}}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		f.make(path)
		before := filesnap.Take(t, path)
		for _, a := range actions {
			args := append([]string{"outbox"}, a...)
			args = append(args, "--store", f.name)
			r := expect(t, o, f.code, []string{"herald outbox: ", f.want}, args...)
			if f.code == 1 && !strings.Contains(r.stderr, "left as it was") {
				t.Errorf("%s: the message does not say the file was left alone: %q", strings.Join(args, " "), r.stderr)
			}
			if d := before.Changed(t); d != "" {
				t.Fatalf("%s changed the file: %s", strings.Join(args, " "), d)
			}
		}
	}
}

// TestOutboxListReadOnly: list, stats and states open the store read-only, so they
// work beside another reader, while replay, which writes, waits for it and
// reports the lock; and reading changes nothing in the file.
func TestOutboxListReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relay.db")
	st, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := st.Put(ctx, outbox.Delivery{ID: "d-1", Destination: "a", Topic: "job:ready", Body: []byte("{}"), Due: time.Now(), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ls, err := st.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	if err := st.Settle(ctx, []outbox.Settlement{{ID: ls[0].ID, Token: ls[0].Token, Outcome: outbox.DeadLettered, Reason: "gone"}})[0]; err != nil {
		t.Fatal(err)
	}
	failing := outbox.DestinationState{Destination: "b", FailingSince: time.Unix(1700000000, 0), Reason: "500 from b\u202e"}
	if err := st.(outbox.DestinationStore).SetDestinationState(ctx, failing); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before := filesnap.Take(t, path)

	reader, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	o := runOpts{dir: dir}
	if r := must(t, o, "outbox", "list", "--store", "relay.db"); !strings.Contains(r.stdout, `"id":"d-1"`) {
		t.Errorf("list beside a reader printed %q", r.stdout)
	}
	if r := must(t, o, "outbox", "stats", "--store", "relay.db"); r.stdout != "{\"pending\":0,\"leased\":0,\"dead\":1}\n" {
		t.Errorf("stats beside a reader printed %q", r.stdout)
	}
	// The control character of the reason is escaped, as list escapes.
	if r := must(t, o, "outbox", "states", "--store", "relay.db"); r.stdout != `{"destination":"b","failing_since":"2023-11-14T22:13:20Z","reason":"500 from b\u202e"}`+"\n" {
		t.Errorf("states beside a reader printed %q", r.stdout)
	}
	expect(t, o, 1, []string{"locked", "stop the relay using it first"}, "outbox", "replay", "--all", "--store", "relay.db")
	if err := reader.Close(); err != nil {
		t.Fatal(err)
	}
	if d := before.Changed(t); d != "" {
		t.Errorf("list, stats and states changed the file: %s", d)
	}
	if r := must(t, o, "outbox", "replay", "--all", "--store", "relay.db"); r.stdout != "replayed 1\n" {
		t.Errorf("replay printed %q", r.stdout)
	}
}

// deadLetters writes a bbolt outbox at path holding one dead letter for
// each id, the destination it is mapped to.
func deadLetters(t *testing.T, path string, dests map[string]string) {
	t.Helper()
	st, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Now()
	for id, dest := range dests {
		if err := st.Put(ctx, outbox.Delivery{ID: id, Destination: dest, Topic: "job:ready", Body: []byte("{}"), Due: now, Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := st.Lease(ctx, outbox.LeaseOptions{Max: len(dests), TTL: time.Minute, Now: now})
	if err != nil || len(ls) != len(dests) {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	for _, l := range ls {
		if err := st.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.DeadLettered, Reason: "gone"}})[0]; err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOutboxSelectionFlagsExclusive: replay and purge take one kind of
// selection. Given together, --all and --dest (or --id) were joined into a
// selector that takes every dead letter that any of them names, so
// "purge --dest a --all" purged every destination's dead letters and
// "purge --dest a --id d-b" purged b's d-b too: more than the operator
// read into it. They are now refused, and nothing is changed.
func TestOutboxSelectionFlagsExclusive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relay.db")
	deadLetters(t, path, map[string]string{"d-a": "a", "d-b": "b"})
	o := runOpts{dir: dir}
	for _, action := range []string{"purge", "replay"} {
		for _, sel := range [][]string{{"--dest", "a", "--all"}, {"--id", "d-a", "--all"}, {"--dest", "a", "--id", "d-b"}} {
			args := append([]string{"outbox", action, "--store", "relay.db"}, sel...)
			expect(t, o, 2, []string{"one of --dest NAME, --id ID or --all"}, args...)
			if _, dead := outboxStats(t, dir, "relay.db"); dead != 2 {
				t.Fatalf("%s: %d dead letters left, want 2", strings.Join(args, " "), dead)
			}
		}
	}
	if r := must(t, o, "outbox", "purge", "--store", "relay.db", "--dest", "a"); r.stdout != "purged 1\n" {
		t.Errorf("purge --dest a printed %q", r.stdout)
	}
}

// TestOutboxFailsWhenOutputFails: an action whose answer cannot be written
// (standard output on a full disk) exits 1 and says so. It exited 0 with
// nothing written, so "herald outbox list > saved.jsonl && herald outbox
// purge --all" purged dead letters that were never saved.
func TestOutboxFailsWhenOutputFails(t *testing.T) {
	dir := t.TempDir()
	deadLetters(t, filepath.Join(dir, "relay.db"), map[string]string{"d-a": "a"})
	for _, action := range [][]string{{"list"}, {"stats"}, {"replay", "--id", "nope"}} {
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Skip("no /dev/full:", err)
		}
		args := append(append([]string{"outbox"}, action...), "--store", "relay.db")
		cmd := exec.Command(heraldBin, args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = full, &stderr
		err = cmd.Run()
		full.Close()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "no space left on device") {
			t.Errorf("herald %s > /dev/full: %v, stderr %q; want exit 1 for the failed write", strings.Join(args, " "), err, stderr.String())
		}
	}
}
