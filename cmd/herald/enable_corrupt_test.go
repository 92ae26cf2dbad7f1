package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
)

// TestOutboxEnableUnreadableState: one destination state in a bbolt file
// that could not be read (a damaged or foreign value) made herald outbox
// enable fail for every destination, that one included, since it read all
// the states first: the error named the destination, and the tool meant to
// clear it could not. It now removes the state all the same, and leaves
// the other destinations' states as they were.
func TestOutboxEnableUnreadableState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relay.db")
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	writeStates(t, path, map[string][]byte{"hook": []byte("{\x1b[2J")},
		outbox.DestinationState{Destination: "hook", Disabled: now, Reason: "gone (410)"},
		outbox.DestinationState{Destination: "other", Disabled: now, Reason: "gone (410)"})

	// states shows the damaged record as hook held, its bytes not printed.
	if r := must(t, runOpts{dir: dir}, "outbox", "states", "--store", "relay.db"); !strings.HasPrefix(r.stdout, `{"destination":"hook",`) ||
		!strings.Contains(r.stdout, "unreadable") || !strings.Contains(r.stdout, `{"destination":"other",`) || strings.Contains(r.all(), "\x1b") {
		t.Errorf("outbox states printed %q", r.stdout)
	}
	r := must(t, runOpts{dir: dir}, "outbox", "enable", "--store", "relay.db", "--dest", "hook")
	if !strings.HasPrefix(r.stdout, "enabled hook (") || strings.Contains(r.all(), "\x1b") {
		t.Errorf("outbox enable printed %q", r.stdout)
	}
	st, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	states, err := st.(outbox.DestinationStore).DestinationStates(ctx)
	if err != nil || len(states) != 1 || states[0].Destination != "other" || states[0].Disabled.IsZero() {
		t.Errorf("after enable the states are %+v, %v; want other's alone, disabled", states, err)
	}
}

// TestOutboxStatesTimeOutOfJSONRange: a state written by another tool or
// by hand may hold a time whose offset puts it past year 9999 in UTC
// (bbolt keeps states as JSON, with the offset given). herald outbox
// states printed them in UTC, which encoding/json refuses past 9999, and
// so failed and listed no destination at all; the admin handler's GET
// /destinations lists it as the stores keep times. It now lists every
// state, such a time at the last one the stores keep.
func TestOutboxStatesTimeOutOfJSONRange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relay.db")
	writeStates(t, path, map[string][]byte{"far": []byte(`{"destination":"far","disabled":"9999-12-31T23:00:00-05:00","reason":"by hand"}`)},
		outbox.DestinationState{Destination: "near", Disabled: time.Unix(1700000000, 0), Reason: "gone (410)"})

	r := must(t, runOpts{dir: dir}, "outbox", "states", "--store", "relay.db")
	if want := `{"destination":"far","disabled":"2262-04-11T23:47:16.854775807Z","reason":"by hand"}` + "\n" +
		`{"destination":"near","disabled":"2023-11-14T22:13:20Z","reason":"gone (410)"}` + "\n"; r.stdout != want {
		t.Errorf("outbox states printed %q, want %q", r.stdout, want)
	}
}

// writeStates records states in a new bbolt outbox at path, then writes
// raw values under the names of raw in its destinations bucket, as
// another tool or a hand (or damage) would.
func writeStates(t *testing.T, path string, raw map[string][]byte, states ...outbox.DestinationState) {
	t.Helper()
	st, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if err := st.(outbox.DestinationStore).SetDestinationState(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		for name, v := range raw {
			if err := tx.Bucket([]byte("destinations")).Put([]byte(name), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestOutboxEnableLeavesFailing: herald outbox enable of a destination
// that is only failing says it was not disabled, and leaves its state as
// it was: it used to remove it, so that the run of failures counting
// towards disable_after started again from nothing.
func TestOutboxEnableLeavesFailing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relay.db")
	since := time.Now().Add(-96 * time.Hour).UTC().Truncate(time.Second)
	writeStates(t, path, nil, outbox.DestinationState{Destination: "hook", FailingSince: since})
	if r := must(t, runOpts{dir: dir}, "outbox", "enable", "--store", "relay.db", "--dest", "hook"); r.stdout != "hook was not disabled\n" {
		t.Errorf("outbox enable printed %q", r.stdout)
	}
	st, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	states, err := st.(outbox.DestinationStore).DestinationStates(context.Background())
	if err != nil || len(states) != 1 || !states[0].FailingSince.Equal(since) {
		t.Errorf("after enable the states are %+v, %v; want hook's, failing since %v", states, err, since)
	}
}
