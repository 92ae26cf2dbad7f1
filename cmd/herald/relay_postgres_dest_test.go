package main

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRelayOrderedPostgres: two relays sharing a postgres:// store, with
// an ordered destination whose receiver fails every third request,
// deliver the events of each partition key in the order they were posted,
// each once, whichever relay took them.
func TestRelayOrderedPostgres(t *testing.T) { relayOrdered(t, pgStoreURL(t), 2) }

// TestRelayPostgresGoneDisablesAndOutboxEnable: a 410 Gone disables the
// destination in the shared PostgreSQL store: a second relay started on it
// says so and holds its deliveries too; herald outbox enable on the URL
// resumes it for both running relays, which then send what was held, once
// each. No output shows the URL's password.
func TestRelayPostgresGoneDisablesAndOutboxEnable(t *testing.T) {
	dir := t.TempDir()
	store := pgStoreURL(t)
	var healthy atomic.Bool
	rcv, env, args := goneDestination(t, dir, &healthy, store, 2)

	a := startDisabled(t, dir, rcv, env, args)
	b := startRelay(t, dir, env, args...)
	eventually(t, func() string { return "the second relay to say hook is disabled\n" + b.stderr() }, func() bool {
		return strings.Contains(b.stderr(), "destination disabled; its deliveries are held") && strings.Contains(b.stderr(), "destination=hook")
	})
	b.mustPost(t, event("ev-2", "job:ready"), nil)
	a.mustPost(t, event("ev-3", "job:ready"), nil)
	time.Sleep(time.Second)
	if n := len(rcv.Deliveries()); n != 1 {
		t.Errorf("the disabled destination got %d requests, want 1", n)
	}
	if pending, dead := outboxStats(t, dir, store); pending != 3 || dead != 0 {
		t.Errorf("store holds %d pending, %d dead; want the three deliveries held", pending, dead)
	}

	states := must(t, runOpts{dir: dir}, "outbox", "states", "--store", store)
	if !strings.HasPrefix(states.stdout, `{"destination":"hook",`) || !strings.Contains(states.stdout, "gone (410)") {
		t.Errorf("outbox states printed %q, want hook disabled", states.stdout)
	}
	healthy.Store(true)
	r := must(t, runOpts{dir: dir}, "outbox", "enable", "--store", store, "--dest", "hook")
	if !strings.HasPrefix(r.stdout, "enabled hook (disabled at ") || !strings.Contains(r.stdout, "gone (410)") {
		t.Errorf("outbox enable printed %q", r.stdout)
	}
	ds := waitOK(t, rcv, 3, a)
	for id, n := range idCount(ds) {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	outputs := states.all() + r.all() + must(t, runOpts{dir: dir}, "outbox", "enable", "--store", store, "--dest", "hook").all()
	for _, p := range []*relayProc{a, b} {
		if code := p.stop(t); code != 0 {
			t.Errorf("relay exit %d\n%s", code, p.stderr())
		}
		outputs += p.stderr()
	}
	if pending, dead := outboxStats(t, dir, store); pending != 0 || dead != 0 {
		t.Errorf("store holds %d pending, %d dead after enable", pending, dead)
	}
	noLeak(t, outputs, pgPassword)
}
