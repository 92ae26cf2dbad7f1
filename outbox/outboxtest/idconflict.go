package outboxtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// secretBody is the body of the deliveries the id conflict subtests put
// for another destination: no error may show it.
const secretBody = "do-not-show-this-body"

// mkOther returns a delivery of id to dest with secretBody.
func mkOther(id, dest string) outbox.Delivery {
	d := mk(id, dest)
	d.Body = []byte(secretBody)
	return d
}

// wantConflict checks that err refuses a delivery id held or given for
// another destination: it wraps ErrInvalid, names the id and both
// destinations, and shows no body.
func wantConflict(t *testing.T, err error, what, id, held, dest string) {
	t.Helper()
	if !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("%s: Put = %v, want an error wrapping ErrInvalid", what, err)
		return
	}
	msg := err.Error()
	for _, s := range []string{id, held, dest} {
		if !strings.Contains(msg, s) {
			t.Errorf("%s: the error %q does not name %q", what, msg, s)
		}
	}
	if strings.Contains(msg, secretBody) {
		t.Errorf("%s: the error %q shows a body", what, msg)
	}
}

// testIDOtherDestination: a Put of an id the outbox holds for another
// destination (pending, leased or dead), or of one id for two destinations
// in one Put, fails with ErrInvalid and stores none of its batch; a Put
// of a held id for the same destination still succeeds and leaves the
// held one as it is.
func testIDOtherDestination(t *testing.T, ob outbox.Outbox) {
	put(t, ob, mk("pend", "dest-a"), mk("lease", "dest-a"), mk("dead", "dest-a"))
	ls := lease(t, ob, outbox.LeaseOptions{Max: 10, TTL: time.Hour})
	for _, l := range ls {
		switch l.ID {
		case "pend":
			must(t, "Release pend", release(ob, l.ID, l.Token))
		case "dead":
			must(t, "dead-letter dead", deadLetter(ob, l.ID, l.Token, "r", outbox.AttemptRecord{}))
		}
	}
	held := outbox.Stats{Pending: 2, Leased: 1, Dead: 1}
	wantStats(t, ob, held, "before the Puts")
	for _, id := range []string{"pend", "lease", "dead"} {
		err := ob.Put(ctx, mk("new-"+id, "dest-a"), mkOther(id, "dest-b"), mk("new2-"+id, "dest-b"))
		wantConflict(t, err, "a Put of the "+id+" id for another destination", id, "dest-a", "dest-b")
	}
	err := ob.Put(ctx, mk("n1", "dest-a"), mk("twice", "dest-a"), mkOther("twice", "dest-b"), mk("n2", "dest-b"))
	wantConflict(t, err, "one Put of an id for two destinations", "twice", "dest-a", "dest-b")
	wantStats(t, ob, held, "after the refused Puts")

	// The same id for the same destination: nil, the held one kept.
	again := []outbox.Delivery{mkOther("pend", "dest-a"), mkOther("lease", "dest-a"), mkOther("dead", "dest-a")}
	put(t, ob, again...)
	put(t, ob, mk("same", "dest-a"), mkOther("same", "dest-a"))
	held.Pending++
	wantStats(t, ob, held, "after the Puts of held ids for their own destinations")
	got := lease(t, ob, outbox.LeaseOptions{Max: 100, Now: time.Now().Add(48 * time.Hour), Allow: func(string) int { return 100 }})
	if ids := ids(got); !slices.Equal(ids, []string{"lease", "pend", "same"}) {
		t.Fatalf("leased %v, want [lease pend same]: a refused Put stored part of its batch", ids)
	}
	for _, l := range got {
		if l.Destination != "dest-a" || string(l.Body) == secretBody {
			t.Errorf("leased %s for %s with body %q: a later Put changed it", l.ID, l.Destination, l.Body)
		}
	}
}

// testIDOtherDestinationConcurrent: of two Puts at once of one id for two
// destinations, exactly one succeeds and the other fails with ErrInvalid;
// the outbox holds the delivery of the one that succeeded.
func testIDOtherDestinationConcurrent(t *testing.T, ob outbox.Outbox) {
	const n = 20
	won := make(map[string]string, n)
	for i := range n {
		id := fmt.Sprintf("race%02d", i)
		dests := [2]string{"dest-a", "dest-b"}
		var errs [2]error
		var wg sync.WaitGroup
		for j, dest := range dests {
			wg.Go(func() { errs[j] = ob.Put(ctx, mk(id, dest)) })
		}
		wg.Wait()
		switch {
		case errs[0] == nil && errs[1] == nil:
			t.Fatalf("%s: both Puts, for %s and for %s, returned nil", id, dests[0], dests[1])
		case errs[0] == nil:
			won[id] = dests[0]
			wantConflict(t, errs[1], id+": the losing Put", id, dests[0], dests[1])
		case errs[1] == nil:
			won[id] = dests[1]
			wantConflict(t, errs[0], id+": the losing Put", id, dests[1], dests[0])
		default:
			t.Fatalf("%s: both Puts failed: %v; %v", id, errs[0], errs[1])
		}
	}
	got := lease(t, ob, outbox.LeaseOptions{Max: 100, Allow: func(string) int { return 100 }})
	if len(got) != n {
		t.Fatalf("leased %d deliveries after %d races, want %d", len(got), n, n)
	}
	for _, l := range got {
		if won[l.ID] != l.Destination {
			t.Errorf("leased %s for %s, but the Put for %q won", l.ID, l.Destination, won[l.ID])
		}
	}
}
