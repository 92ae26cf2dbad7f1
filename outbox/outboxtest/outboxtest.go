// Package outboxtest is the conformance suite of [outbox.Outbox]
// implementations: the stores of this module run it, and so should one you
// write. Call [Run] from a test of your store's package, with a function
// that opens a new, empty store for each subtest:
//
//	package mystore_test
//
//	func TestConformance(t *testing.T) {
//		outboxtest.Run(t, func(t *testing.T) outbox.Outbox {
//			st, err := mystore.Open(filepath.Join(t.TempDir(), "outbox"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return st // Run closes it
//		})
//	}
//
// then `go test -run Conformance ./mystore/`. The suite checks the
// contract a [outbox.Queue] relies on: Put stores all or nothing, keeps
// every field of a delivery (its optional EventID and TraceParent included), is
// idempotent on the id and destination (of an id given several times for
// one destination, in one Put or in several, the first is stored), and
// refuses with [outbox.ErrInvalid] an id held or given for another
// destination, storing none of that Put, also when two Puts race, Lease honours due times (even centuries
// away, which the store keeps, and lists, as an int64 of Unix
// nanoseconds holds them), Max, Allow and lease
// expiry, Settle records each outcome and refuses a lost lease with
// [outbox.ErrLeaseLost], a delivery put with a huge attempt count is
// refused with [outbox.ErrInvalid] or counted on from without an error or
// a count turned negative, and a closed store fails with [outbox.ErrClosed].
// A store that also implements [outbox.Admin] is checked on dead letters,
// history (a delivery replayed again and again keeps its newest 64
// attempts; see [outbox.Admin.History]) and counts as well, and one that
// implements [outbox.DestinationStore] on destination states; the subtests that need
// them are skipped for one that does not. A store that keeps the order of
// a partition key (a method OrdersByKey() bool that returns true, as an
// outbox.Queue requires for an Ordered destination) is checked on that
// order (the Order* subtests, see order.go), under concurrent leasing too;
// they are skipped for one that does not. The Model subtests then drive the
// store with random operations, checking each against a model of what it
// should hold (see model.go). A store that a fleet of processes shares
// should also run [RunFleet], the same model check through two or three
// handles on one storage. Deliveries reach Put as the Queue
// sends them: validated, with Due and Created set; Lease gets its
// [outbox.LeaseOptions] filled, as from a Queue.
package outboxtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/outbox"
)

// Run runs the suite as subtests. newOutbox returns a new, empty outbox for
// one subtest; Run closes it at the end of the subtest.
func Run(t *testing.T, newOutbox func(t *testing.T) outbox.Outbox) {
	tests := []struct {
		name string
		f    func(t *testing.T, ob outbox.Outbox)
	}{
		{"PutLeaseAck", testPutLeaseAck},
		{"DueTime", testDueTime},
		{"FarDueTimes", testFarDueTimes},
		{"FarTimesListed", testFarTimesListed},
		{"LeaseExpiry", testLeaseExpiry},
		{"LeaseNowBackwards", testLeaseNowBackwards},
		{"Reschedule", testReschedule},
		{"HistoryBounded", testHistoryBounded},
		{"Release", testRelease},
		{"DeadLetters", testDeadLetters},
		{"Idempotent", testIdempotent},
		{"IDOtherDestination", testIDOtherDestination},
		{"IDOtherDestinationConcurrent", testIDOtherDestinationConcurrent},
		{"PutAllOrNothing", testPutAllOrNothing},
		{"UnknownOutcome", testUnknownOutcome},
		{"Allow", testAllow},
		{"ConcurrentLease", testConcurrentLease},
		{"Closed", testClosed},
		{"LeaseAheadOfLeased", testLeaseAheadOfLeased},
		{"Settle", testSettle},
		{"LargeAttemptCounts", testLargeAttemptCounts},
		{"DestinationStates", testDestinationStates},
	}
	tests = append(tests, orderTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ob := newOutbox(t)
			t.Cleanup(func() { _ = ob.Close() })
			tt.f(t, ob)
		})
	}
	t.Run("Model", func(t *testing.T) { testModel(t, newOutbox) })
}

var ctx = context.Background()

// mk returns a delivery to dest with a recognisable body, due now, as the
// Queue hands it to Put.
func mk(id, dest string) outbox.Delivery {
	now := time.Now()
	return outbox.Delivery{
		ID: id, Destination: dest, EventID: "evt-" + id, Topic: "job:" + id, ContentType: "application/x-" + id,
		TraceParent: traceOf(id), Body: []byte(`{"id":"` + id + `"}`), Due: now, Created: now,
	}
}

// traceOf returns a W3C traceparent of its own for the delivery id.
func traceOf(id string) string {
	h := fnv.New64a()
	h.Write([]byte(id))
	return fmt.Sprintf("00-4bf92f3577b34da6a3ce929d0e0e4736-%016x-01", h.Sum64()|1)
}

// settle settles one lease and returns its error.
func settle(ob outbox.Outbox, s outbox.Settlement) error {
	errs := ob.Settle(ctx, []outbox.Settlement{s})
	if len(errs) != 1 {
		return fmt.Errorf("Settle returned %d errors for 1 settlement", len(errs))
	}
	return errs[0]
}

func ack(ob outbox.Outbox, id, token string) error {
	return settle(ob, outbox.Settlement{ID: id, Token: token, Outcome: outbox.Delivered})
}

func reschedule(ob outbox.Outbox, id, token string, due time.Time, a outbox.AttemptRecord) error {
	return settle(ob, outbox.Settlement{ID: id, Token: token, Outcome: outbox.Retrying, Due: due, Attempt: a})
}

func release(ob outbox.Outbox, id, token string) error {
	return settle(ob, outbox.Settlement{ID: id, Token: token, Outcome: outbox.Released})
}

func deadLetter(ob outbox.Outbox, id, token, reason string, a outbox.AttemptRecord) error {
	return settle(ob, outbox.Settlement{ID: id, Token: token, Outcome: outbox.DeadLettered, Reason: reason, Attempt: a})
}

// adm returns ob's [outbox.Admin], and skips the rest of the subtest when
// ob has none.
func adm(t *testing.T, ob outbox.Outbox) outbox.Admin {
	t.Helper()
	ad, ok := ob.(outbox.Admin)
	if !ok {
		t.Skip("the outbox is not an outbox.Admin")
	}
	return ad
}

// wantStats checks ob's counts, when ob is an [outbox.Admin].
func wantStats(t *testing.T, ob outbox.Outbox, want outbox.Stats, when string) {
	t.Helper()
	ad, ok := ob.(outbox.Admin)
	if !ok {
		return
	}
	s, err := ad.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if s != want {
		t.Errorf("Stats %s = %+v, want %+v", when, s, want)
	}
}

func put(t *testing.T, ob outbox.Outbox, ds ...outbox.Delivery) {
	t.Helper()
	if err := ob.Put(ctx, ds...); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// lease leases with o as a Queue would pass it: TTL and Now filled (5
// minutes and the current time) where a subtest leaves them out.
func lease(t *testing.T, ob outbox.Outbox, o outbox.LeaseOptions) []outbox.Leased {
	t.Helper()
	ls, err := ob.Lease(ctx, filled(o))
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	return ls
}

// filled returns o with TTL and Now set as a Queue sets them, where zero.
func filled(o outbox.LeaseOptions) outbox.LeaseOptions {
	if o.TTL == 0 {
		o.TTL = 5 * time.Minute
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	return o
}

func ids(ls []outbox.Leased) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.ID)
	}
	slices.Sort(out)
	return out
}

func stats(t *testing.T, ob outbox.Outbox) outbox.Stats {
	t.Helper()
	s, err := adm(t, ob).Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return s
}

func testPutLeaseAck(t *testing.T, ob outbox.Outbox) {
	before := time.Now()
	noEvent := mk("b1", "b")
	noEvent.EventID, noEvent.TraceParent = "", "" // optional
	put(t, ob, mk("a1", "a"), mk("a2", "a"), noEvent)
	wantStats(t, ob, outbox.Stats{Pending: 3}, "after Put")
	ls := lease(t, ob, outbox.LeaseOptions{Max: 10, TTL: time.Minute})
	if got := ids(ls); !slices.Equal(got, []string{"a1", "a2", "b1"}) {
		t.Fatalf("leased %v", got)
	}
	for _, l := range ls {
		want := mk(l.ID, l.Destination)
		if l.ID == noEvent.ID {
			want = noEvent
		}
		if l.EventID != want.EventID || l.TraceParent != want.TraceParent || l.Topic != want.Topic || l.ContentType != want.ContentType || !bytes.Equal(l.Body, want.Body) {
			t.Errorf("leased %+v, want %+v", l.Delivery, want)
		}
		if l.Token == "" || l.Attempts != 0 || l.Created.Before(before.Add(-time.Second)) || l.Until.Before(time.Now()) {
			t.Errorf("leased %s: token %q, attempts %d, created %v, until %v", l.ID, l.Token, l.Attempts, l.Created, l.Until)
		}
	}
	wantStats(t, ob, outbox.Stats{Pending: 3, Leased: 3}, "after Lease")
	if again := lease(t, ob, outbox.LeaseOptions{Max: 10}); len(again) != 0 {
		t.Fatalf("leased %v twice", ids(again))
	}
	for _, l := range ls {
		if err := ack(ob, l.ID, l.Token); err != nil {
			t.Fatalf("Ack %s: %v", l.ID, err)
		}
	}
	if err := ack(ob, ls[0].ID, ls[0].Token); !errors.Is(err, outbox.ErrLeaseLost) {
		t.Errorf("second Ack: %v, want ErrLeaseLost", err)
	}
	wantStats(t, ob, outbox.Stats{}, "after Ack")
	if got := lease(t, ob, outbox.LeaseOptions{Max: 10, Now: time.Now().Add(48 * time.Hour)}); len(got) != 0 {
		t.Errorf("acked deliveries leased again: %v", ids(got))
	}
	if _, err := adm(t, ob).History(ctx, ls[0].ID); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("History after Ack: %v, want ErrNotFound", err)
	}
}

func testDueTime(t *testing.T, ob outbox.Outbox) {
	now := time.Now()
	later := mk("later", "a")
	later.Due = now.Add(time.Hour)
	put(t, ob, later, mk("now", "a"))
	first := lease(t, ob, outbox.LeaseOptions{Max: 10, Now: now.Add(time.Second)})
	if got := ids(first); !slices.Equal(got, []string{"now"}) {
		t.Fatalf("leased %v before the due time, want [now]", got)
	}
	if err := ack(ob, first[0].ID, first[0].Token); err != nil {
		t.Fatal(err)
	}
	if got := ids(lease(t, ob, outbox.LeaseOptions{Max: 10, Now: now.Add(time.Hour + time.Second)})); !slices.Equal(got, []string{"later"}) {
		t.Fatalf("leased %v after the due time, want [later]", got)
	}
	// Earliest due first within a destination.
	for i := range 5 {
		d := mk(fmt.Sprint("o", i), "o")
		d.Due = now.Add(time.Duration(5-i) * time.Minute)
		put(t, ob, d)
	}
	got := lease(t, ob, outbox.LeaseOptions{Max: 2, Now: now.Add(time.Hour), Allow: only("o")})
	if ids(got)[0] != "o3" || ids(got)[1] != "o4" {
		t.Errorf("leased %v, want the two earliest [o3 o4]", ids(got))
	}
}

// testFarDueTimes: due times that Unix nanoseconds in an int64 cannot
// hold (after 2262, before 1678) keep their place in time, through Put and
// a Retrying settlement: one due in 2300 is not due now, one due in 1500
// is, and a lease as of 2400 takes every one. (Stored as UnixNano, they wrapped
// around: 2300 became 1715, due at once, and 1500 became 2075.)
func testFarDueTimes(t *testing.T, ob outbox.Outbox) {
	future, past, retried := mk("future", "a"), mk("past", "a"), mk("retried", "a")
	now := retried.Due.Add(time.Second)
	future.Due = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	past.Due = time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)
	put(t, ob, future, past, retried)
	got := lease(t, ob, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now})
	if !slices.Equal(ids(got), []string{"past", "retried"}) {
		t.Fatalf("leased %v now, want [past retried]", ids(got))
	}
	errs := ob.Settle(ctx, []outbox.Settlement{
		{ID: "retried", Token: got[1].Token, Outcome: outbox.Retrying, Due: future.Due},
		{ID: "past", Token: got[0].Token, Outcome: outbox.Released},
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := ids(lease(t, ob, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now})); !slices.Equal(got, []string{"past"}) {
		t.Fatalf("leased %v after rescheduling to 2300, want [past]", got)
	}
	far := time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := lease(t, ob, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: far}); len(got) != 3 {
		t.Fatalf("a lease as of 2400 took %v, want all three", ids(got))
	}
}

// testFarTimesListed: a dead letter due, created and attempted after the
// year 9999 is listed, with its history, at the last time an int64 of
// Unix nanoseconds holds, as the durable stores keep every time: an
// [outbox.AdminHandler] answers in JSON, which has no year past 9999, and
// a listing that kept such a time failed whole.
func testFarTimesListed(t *testing.T, ob outbox.Outbox) {
	far := time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)
	last := time.Unix(0, math.MaxInt64)
	d := mk("far", "a")
	d.Due, d.Created = far, far
	put(t, ob, d)
	got := lease(t, ob, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: far.AddDate(1, 0, 0)})
	if len(got) != 1 {
		t.Fatalf("a lease as of the year 12001 took %v, want [far]", ids(got))
	}
	if err := deadLetter(ob, "far", got[0].Token, "gone (410)", outbox.AttemptRecord{At: far, Status: 410, Tries: 1}); err != nil {
		t.Fatal(err)
	}
	dls, err := adm(t, ob).DeadLetters(ctx, outbox.DeadLetterQuery{})
	if err != nil || len(dls) != 1 {
		t.Fatalf("DeadLetters: %+v, %v", dls, err)
	}
	if !dls[0].Due.Equal(last) || !dls[0].Created.Equal(last) {
		t.Errorf("dead letter due %v, created %v; want both %v", dls[0].Due, dls[0].Created, last)
	}
	h, err := adm(t, ob).History(ctx, "far")
	if err != nil || len(h) != 1 || !h[0].At.Equal(last) {
		t.Fatalf("History: %+v, %v; want one attempt at %v", h, err, last)
	}
	if _, err := json.Marshal(dls); err != nil {
		t.Errorf("the listing does not encode as JSON: %v", err)
	}
	if _, err := json.Marshal(h); err != nil {
		t.Errorf("the history does not encode as JSON: %v", err)
	}
}

// only allows the named destination and no other.
func only(dest string) func(string) int {
	return func(d string) int {
		if d == dest {
			return 1 << 20
		}
		return 0
	}
}

func testLeaseExpiry(t *testing.T, ob outbox.Outbox) {
	put(t, ob, mk("x", "a"))
	t0 := time.Now()
	first := lease(t, ob, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: t0})
	if len(first) != 1 {
		t.Fatalf("leased %d", len(first))
	}
	if got := lease(t, ob, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: t0.Add(59 * time.Second)}); len(got) != 0 {
		t.Fatalf("leased again within the lease")
	}
	second := lease(t, ob, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: t0.Add(61 * time.Second)})
	if len(second) != 1 || second[0].ID != "x" {
		t.Fatalf("after expiry leased %v, want [x]", ids(second))
	}
	if second[0].Token == first[0].Token {
		t.Fatalf("same token for a new lease")
	}
	if !bytes.Equal(second[0].Body, mk("x", "a").Body) {
		t.Errorf("body changed on redelivery: %q", second[0].Body)
	}
	for _, f := range []func() error{
		func() error { return ack(ob, "x", first[0].Token) },
		func() error { return reschedule(ob, "x", first[0].Token, t0, outbox.AttemptRecord{}) },
		func() error { return release(ob, "x", first[0].Token) },
		func() error { return deadLetter(ob, "x", first[0].Token, "r", outbox.AttemptRecord{}) },
	} {
		if err := f(); !errors.Is(err, outbox.ErrLeaseLost) {
			t.Errorf("settling with the expired token: %v, want ErrLeaseLost", err)
		}
	}
	if err := ack(ob, "x", second[0].Token); err != nil {
		t.Fatalf("Ack with the new token: %v", err)
	}
	if err := ack(ob, "nope", "t"); !errors.Is(err, outbox.ErrLeaseLost) && !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("Ack of unknown id: %v", err)
	}
}

func testReschedule(t *testing.T, ob outbox.Outbox) {
	put(t, ob, mk("r", "a"))
	now := time.Now()
	ls := lease(t, ob, outbox.LeaseOptions{Max: 1, Now: now})
	a1 := outbox.AttemptRecord{At: now, Status: 503, Latency: 1234 * time.Millisecond, Tries: 2, Error: "destination failed: status 503"}
	if err := reschedule(ob, "r", ls[0].Token, now.Add(time.Hour), a1); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	wantStats(t, ob, outbox.Stats{Pending: 1}, "")
	if got := lease(t, ob, outbox.LeaseOptions{Max: 1, Now: now.Add(59 * time.Minute)}); len(got) != 0 {
		t.Fatalf("leased before the new due time")
	}
	ls = lease(t, ob, outbox.LeaseOptions{Max: 1, Now: now.Add(61 * time.Minute)})
	if len(ls) != 1 || ls[0].Attempts != 1 || !ls[0].Due.Equal(now.Add(time.Hour)) || ls[0].TraceParent != traceOf("r") {
		t.Fatalf("after Reschedule leased %+v, want attempts 1 due in 1h, its trace parent kept", ls)
	}
	long := outbox.AttemptRecord{At: now.Add(time.Hour), Error: string(bytes.Repeat([]byte("é"), limits.Reason/2))}
	if err := reschedule(ob, "r", ls[0].Token, now.Add(2*time.Hour), long); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	h, err := adm(t, ob).History(ctx, "r")
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if len(h) != 2 || !h[0].At.Equal(a1.At) || h[0].Status != 503 || h[0].Latency != a1.Latency || h[0].Tries != 2 || h[0].Error != a1.Error {
		t.Fatalf("History = %+v, want [%+v, ...]", h, a1)
	}
	if h[1].Error != long.Error {
		t.Errorf("an error of %d bytes (MaxReasonLen) stored as %d bytes", len(long.Error), len(h[1].Error))
	}
	if _, err := adm(t, ob).History(ctx, "nope"); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("History of unknown id: %v", err)
	}
}

// testHistoryBounded replays one dead letter again and again, as an
// operator's script might: 200 attempts in all. Its history keeps the
// newest limits.History of them, oldest first, rather than growing with
// every replay, and Purge still deletes the delivery with all of it.
func testHistoryBounded(t *testing.T, ob outbox.Outbox) {
	ad := adm(t, ob)
	put(t, ob, mk("h", "a"))
	const rounds, perRound = 20, 10
	base := time.Now().Add(-time.Hour)
	attempt := func(n int) outbox.AttemptRecord {
		return outbox.AttemptRecord{At: base.Add(time.Duration(n) * time.Second), Status: 500 + n%4, Tries: n, Error: "attempt " + strconv.Itoa(n)}
	}
	n := 0
	for r := range rounds {
		for i := range perRound {
			ls := lease(t, ob, outbox.LeaseOptions{Max: 1})
			if len(ls) != 1 || ls[0].ID != "h" || ls[0].Attempts != i {
				t.Fatalf("round %d, attempt %d: leased %+v, want h with %d attempts", r, i, ls, i)
			}
			n++
			var err error
			if i < perRound-1 {
				err = reschedule(ob, "h", ls[0].Token, time.Now(), attempt(n))
			} else {
				err = deadLetter(ob, "h", ls[0].Token, "gave up", attempt(n))
			}
			if err != nil {
				t.Fatalf("attempt %d: %v", n, err)
			}
		}
		if r == rounds-1 {
			break
		}
		if got, err := ad.Replay(ctx, outbox.Selector{IDs: []string{"h"}}); err != nil || got != 1 {
			t.Fatalf("Replay %d = %d, %v; want 1", r, got, err)
		}
	}
	h, err := ad.History(ctx, "h")
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if len(h) != limits.History {
		t.Fatalf("History after %d attempts holds %d, want the newest %d", n, len(h), limits.History)
	}
	for i, a := range h {
		want := attempt(n - limits.History + 1 + i)
		if !a.At.Equal(want.At) || a.Status != want.Status || a.Tries != want.Tries || a.Error != want.Error {
			t.Fatalf("History[%d] = %+v, want %+v (the newest, oldest first)", i, a, want)
		}
	}
	if got, err := ad.Purge(ctx, outbox.Selector{IDs: []string{"h"}}); err != nil || got != 1 {
		t.Fatalf("Purge = %d, %v; want 1", got, err)
	}
	if _, err := ad.History(ctx, "h"); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("History after Purge: %v, want ErrNotFound", err)
	}
	wantStats(t, ob, outbox.Stats{}, "after Purge")
}

func testRelease(t *testing.T, ob outbox.Outbox) {
	put(t, ob, mk("r", "a"))
	ls := lease(t, ob, outbox.LeaseOptions{Max: 1})
	if err := release(ob, "r", ls[0].Token); err != nil {
		t.Fatalf("Release: %v", err)
	}
	again := lease(t, ob, outbox.LeaseOptions{Max: 1})
	if len(again) != 1 || again[0].Attempts != 0 {
		t.Fatalf("after Release leased %+v, want r with 0 attempts", again)
	}
	if h, _ := adm(t, ob).History(ctx, "r"); len(h) != 0 {
		t.Errorf("Release recorded an attempt: %+v", h)
	}
}

func testDeadLetters(t *testing.T, ob outbox.Outbox) {
	var all []outbox.Delivery
	for _, dest := range []string{"b", "a"} {
		for i := range 3 {
			all = append(all, mk(fmt.Sprintf("%s%d", dest, i), dest))
		}
	}
	put(t, ob, all...)
	put(t, ob, mk("alive", "a"))
	ls := lease(t, ob, outbox.LeaseOptions{Max: 100, Allow: func(string) int { return 100 }})
	for _, l := range ls {
		if l.ID == "alive" {
			if err := release(ob, l.ID, l.Token); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := deadLetter(ob, l.ID, l.Token, "gone (410) "+l.ID, outbox.AttemptRecord{At: time.Now(), Status: 410}); err != nil {
			t.Fatalf("DeadLetter: %v", err)
		}
	}
	wantStats(t, ob, outbox.Stats{Pending: 1, Dead: 6}, "")
	if got := lease(t, ob, outbox.LeaseOptions{Max: 100, Now: time.Now().Add(100 * time.Hour)}); !slices.Equal(ids(got), []string{"alive"}) {
		t.Fatalf("dead letters leased: %v", ids(got))
	} else if err := release(ob, got[0].ID, got[0].Token); err != nil {
		t.Fatal(err)
	}

	list := func(q outbox.DeadLetterQuery) []string {
		t.Helper()
		dl, err := adm(t, ob).DeadLetters(ctx, q)
		if err != nil {
			t.Fatalf("DeadLetters: %v", err)
		}
		var out []string
		for _, d := range dl {
			if d.Reason != "gone (410) "+d.ID || d.At.IsZero() || d.Attempts != 1 || d.Body != nil || d.EventID != "evt-"+d.ID || d.TraceParent != traceOf(d.ID) {
				t.Errorf("dead letter %+v", d)
			}
			out = append(out, d.ID)
		}
		return out
	}
	if got := list(outbox.DeadLetterQuery{}); !slices.Equal(got, []string{"a0", "a1", "a2", "b0", "b1", "b2"}) {
		t.Errorf("all dead letters: %v", got)
	}
	if got := list(outbox.DeadLetterQuery{Destination: "b"}); !slices.Equal(got, []string{"b0", "b1", "b2"}) {
		t.Errorf("dead letters of b: %v", got)
	}
	if got := list(outbox.DeadLetterQuery{Limit: 2, After: &outbox.DeadLetter{Delivery: outbox.Delivery{Destination: "a", ID: "a1"}}}); !slices.Equal(got, []string{"a2", "b0"}) {
		t.Errorf("page after a/a1: %v", got)
	}
	if h, err := adm(t, ob).History(ctx, "a0"); err != nil || len(h) != 1 || h[0].Status != 410 {
		t.Errorf("History of a dead letter: %+v, %v", h, err)
	}
	// No destination or id holds a NUL or invalid UTF-8: nothing is found,
	// whatever the store's own text type would make of them.
	for _, odd := range []string{"a\x00", "a\xff", "\x00"} {
		if dl, err := adm(t, ob).DeadLetters(ctx, outbox.DeadLetterQuery{Destination: odd}); err != nil || len(dl) != 0 {
			t.Errorf("dead letters of %+q: %d, %v; want none", odd, len(dl), err)
		}
		if h, err := adm(t, ob).History(ctx, odd); !errors.Is(err, outbox.ErrNotFound) {
			t.Errorf("History(%+q) = %+v, %v; want ErrNotFound", odd, h, err)
		}
	}

	if _, err := adm(t, ob).Replay(ctx, outbox.Selector{}); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("Replay of an empty selector: %v, want ErrInvalid", err)
	}
	if _, err := adm(t, ob).Purge(ctx, outbox.Selector{}); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("Purge of an empty selector: %v, want ErrInvalid", err)
	}
	// A selector names one kind of dead letters: taking every one that
	// any part names, "b" with All would be every destination's, and "b"
	// with a0 would take a0 of "a" too.
	for _, s := range []outbox.Selector{
		{All: true, Destination: "b"},
		{All: true, IDs: []string{"b0"}},
		{Destination: "b", IDs: []string{"a0"}},
		{All: true, Destination: "b", IDs: []string{"b0"}},
	} {
		if n, err := adm(t, ob).Replay(ctx, s); !errors.Is(err, outbox.ErrInvalid) || n != 0 {
			t.Errorf("Replay of %+v = %d, %v; want 0, ErrInvalid", s, n, err)
		}
		if n, err := adm(t, ob).Purge(ctx, s); !errors.Is(err, outbox.ErrInvalid) || n != 0 {
			t.Errorf("Purge of %+v = %d, %v; want 0, ErrInvalid", s, n, err)
		}
	}
	wantStats(t, ob, outbox.Stats{Pending: 1, Dead: 6}, "after selectors of several kinds")
	// Many ids, of which one is a dead letter (a store may index them),
	// one pending and the rest unknown, one of them twice.
	many := []string{"a1", "alive", "nope", "nope"}
	for i := range 40 {
		many = append(many, fmt.Sprintf("nope-%d", i))
	}
	if n, err := adm(t, ob).Replay(ctx, outbox.Selector{IDs: many}); err != nil || n != 1 {
		t.Fatalf("Replay one = %d, %v; want 1", n, err)
	}
	got := lease(t, ob, outbox.LeaseOptions{Max: 100, Allow: only("a")})
	if !slices.Equal(ids(got), []string{"a1", "alive"}) {
		t.Fatalf("after Replay leased %v", ids(got))
	}
	for _, l := range got {
		if l.ID == "a1" && (l.Attempts != 0 || !bytes.Equal(l.Body, mk("a1", "a").Body)) {
			t.Errorf("replayed %+v: want attempts 0 and the body kept", l.Delivery)
		}
		if err := ack(ob, l.ID, l.Token); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := adm(t, ob).Replay(ctx, outbox.Selector{Destination: "b"}); err != nil || n != 3 {
		t.Fatalf("Replay destination = %d, %v; want 3", n, err)
	}
	if h, err := adm(t, ob).History(ctx, "b2"); err != nil || len(h) != 1 {
		t.Errorf("History after Replay: %+v, %v; want it kept", h, err)
	}
	if got := ids(lease(t, ob, outbox.LeaseOptions{Max: 100})); !slices.Equal(got, []string{"b0", "b1", "b2"}) {
		t.Fatalf("after Replay of b leased %v", got)
	}
	if n, err := adm(t, ob).Purge(ctx, outbox.Selector{IDs: []string{"a0"}}); err != nil || n != 1 {
		t.Fatalf("Purge one = %d, %v", n, err)
	}
	if _, err := adm(t, ob).History(ctx, "a0"); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("History after Purge: %v", err)
	}
	if n, err := adm(t, ob).Purge(ctx, outbox.Selector{All: true}); err != nil || n != 1 {
		t.Fatalf("Purge all = %d, %v; want 1 (a2)", n, err)
	}
	wantStats(t, ob, outbox.Stats{Pending: 3, Leased: 3}, "at the end")
}

func testIdempotent(t *testing.T, ob outbox.Outbox) {
	first := mk("same", "a")
	second := mk("same", "a")
	second.Body, second.Topic = []byte("other"), "job:other"
	put(t, ob, first, second)
	put(t, ob, second)
	wantStats(t, ob, outbox.Stats{Pending: 1}, "after three Puts of one id")
	ls := lease(t, ob, outbox.LeaseOptions{Max: 10})
	if len(ls) != 1 || ls[0].Destination != "a" || !bytes.Equal(ls[0].Body, first.Body) {
		t.Fatalf("leased %+v, want the first Put", ls)
	}
	put(t, ob, second) // while leased
	if err := deadLetter(ob, "same", ls[0].Token, "r", outbox.AttemptRecord{}); err != nil {
		t.Fatal(err)
	}
	put(t, ob, second) // while dead
	wantStats(t, ob, outbox.Stats{Dead: 1}, "after Put of a dead id")
	if got := lease(t, ob, outbox.LeaseOptions{Max: 10, Now: time.Now().Add(time.Hour)}); len(got) != 0 {
		t.Fatalf("a Put of a dead id made it due: leased %v", ids(got))
	}
	// One id many times in one Put (more than a store may settle at once):
	// the first is stored, once.
	many := make([]outbox.Delivery, 40)
	for i := range many {
		many[i] = mk("many", "a")
		many[i].Body = []byte(strconv.Itoa(i))
	}
	put(t, ob, many...)
	wantStats(t, ob, outbox.Stats{Pending: 1, Dead: 1}, "after a Put of one id 40 times")
	ls = lease(t, ob, outbox.LeaseOptions{Max: 10})
	if len(ls) != 1 || ls[0].ID != "many" || string(ls[0].Body) != "0" {
		t.Fatalf("leased %+v, want the first of the 40", ls)
	}
}

// testPutAllOrNothing: a Put that fails stores none of its deliveries,
// and a Put of a batch that holds ids already stored stores the new ones
// and leaves the others as they were.
func testPutAllOrNothing(t *testing.T, ob outbox.Outbox) {
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := ob.Put(cancelled, mk("c1", "a"), mk("c2", "a")); err == nil {
		t.Error("Put with a cancelled context succeeded")
	}
	if got := lease(t, ob, outbox.LeaseOptions{Max: 10}); len(got) != 0 {
		t.Fatalf("a failed Put stored %v", ids(got))
	}
	wantStats(t, ob, outbox.Stats{}, "after a failed Put")
	put(t, ob, mk("old", "a"))
	changed := mk("old", "a")
	changed.Body = []byte("changed")
	var batch []outbox.Delivery
	for i := range 300 {
		batch = append(batch, mk(fmt.Sprintf("n%03d", i), "a"))
	}
	put(t, ob, append(batch, changed)...)
	got := lease(t, ob, outbox.LeaseOptions{Max: 1000, Allow: func(string) int { return 1000 }})
	if len(got) != 301 {
		t.Fatalf("leased %d after a batch of 300 new ids and 1 held, want 301", len(got))
	}
	for _, l := range got {
		if l.ID == "old" && !bytes.Equal(l.Body, mk("old", "a").Body) {
			t.Errorf("a Put of a held id changed its body to %q", l.Body)
		}
	}
}

// testUnknownOutcome: a settlement whose Outcome is none of the four is
// refused with ErrInvalid, and leaves the lease held.
func testUnknownOutcome(t *testing.T, ob outbox.Outbox) {
	put(t, ob, mk("u", "a"))
	ls := lease(t, ob, outbox.LeaseOptions{Max: 1, TTL: time.Minute})
	if len(ls) != 1 {
		t.Fatalf("leased %d", len(ls))
	}
	if err := settle(ob, outbox.Settlement{ID: "u", Token: ls[0].Token, Outcome: outbox.Outcome(42)}); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("Settle of outcome 42: %v, want ErrInvalid", err)
	}
	if err := ack(ob, "u", ls[0].Token); err != nil {
		t.Errorf("Ack after a refused settlement: %v", err)
	}
}

func testAllow(t *testing.T, ob outbox.Outbox) {
	for i := range 4 {
		put(t, ob, mk(fmt.Sprint("a", i), "a"), mk(fmt.Sprint("b", i), "b"), mk(fmt.Sprint("c", i), "c"))
	}
	calls := map[string]int{}
	got := lease(t, ob, outbox.LeaseOptions{Max: 100, Allow: func(d string) int {
		calls[d]++
		switch d {
		case "a":
			return 0
		case "b":
			return 2
		}
		return 100
	}})
	var a, b, c int
	for _, l := range got {
		switch l.Destination {
		case "a":
			a++
		case "b":
			b++
		case "c":
			c++
		}
	}
	if a != 0 || b != 2 || c != 4 {
		t.Errorf("leased a=%d b=%d c=%d, want 0, 2, 4", a, b, c)
	}
	for d, n := range calls {
		if n != 1 {
			t.Errorf("Allow(%q) called %d times in one Lease", d, n)
		}
	}
	// Destinations take turns.
	var seen []string
	for range 3 {
		ls := lease(t, ob, outbox.LeaseOptions{Max: 1, Allow: func(d string) int {
			if d == "a" || d == "b" {
				return 1
			}
			return 0
		}})
		if len(ls) != 1 {
			t.Fatalf("leased %d", len(ls))
		}
		seen = append(seen, ls[0].Destination)
	}
	if seen[0] == seen[1] || seen[1] == seen[2] {
		t.Errorf("destinations leased in the order %v, want them to alternate", seen)
	}
}

func testConcurrentLease(t *testing.T, ob outbox.Outbox) {
	const n, workers = 400, 8
	var batch []outbox.Delivery
	for i := range n {
		batch = append(batch, mk(fmt.Sprintf("c%04d", i), fmt.Sprint("d", i%3)))
	}
	put(t, ob, batch...)
	var (
		mu     sync.Mutex
		holder = map[string]int{}
		acked  = map[string]int{}
		wg     sync.WaitGroup
		errs   = make(chan error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ls, err := ob.Lease(ctx, filled(outbox.LeaseOptions{Max: 7, TTL: time.Hour}))
				if err != nil {
					errs <- err
					return
				}
				if len(ls) == 0 {
					mu.Lock()
					done := len(acked) == n
					mu.Unlock()
					if done {
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				mu.Lock()
				for _, l := range ls {
					if h, held := holder[l.ID]; held {
						mu.Unlock()
						errs <- fmt.Errorf("%s leased by workers %d and %d at once", l.ID, h, w)
						return
					}
					holder[l.ID] = w
				}
				mu.Unlock()
				for i, l := range ls {
					mu.Lock()
					delete(holder, l.ID)
					mu.Unlock()
					var err error
					if i%4 == 3 {
						err = release(ob, l.ID, l.Token) // comes back for someone
					} else {
						err = ack(ob, l.ID, l.Token)
						if err == nil {
							mu.Lock()
							acked[l.ID]++
							mu.Unlock()
						}
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(acked) != n {
		t.Errorf("acked %d of %d", len(acked), n)
	}
	for id, k := range acked {
		if k != 1 {
			t.Errorf("%s acked %d times", id, k)
		}
	}
}

func testClosed(t *testing.T, ob outbox.Outbox) {
	put(t, ob, mk("x", "a"))
	if err := ob.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ob.Put(ctx, mk("y", "a")); !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}
	if _, err := ob.Lease(ctx, outbox.LeaseOptions{}); !errors.Is(err, outbox.ErrClosed) {
		t.Errorf("Lease after Close: %v, want ErrClosed", err)
	}
}

// testLeaseAheadOfLeased: a delivery that becomes due ahead of deliveries
// still leased (a Put due in the past, a Reschedule to an earlier time, a
// Release, a lease running out) is leased by the next call, even though
// an implementation may remember where its last lease stopped.
// testLeaseNowBackwards: each Lease judges leases by its own Now. A call
// whose Now is past the end of a lease, but that takes nothing, must not
// free the delivery for a later call whose Now is within the lease (two
// Queues whose clocks disagree, a tool passing Now): the memory store
// leased it a second time.
func testLeaseNowBackwards(t *testing.T, ob outbox.Outbox) {
	put(t, ob, mk("x", "a"))
	t0 := time.Now()
	first := lease(t, ob, outbox.LeaseOptions{Max: 1, TTL: 10 * time.Second, Now: t0})
	if len(first) != 1 {
		t.Fatalf("leased %d", len(first))
	}
	none := func(string) int { return 0 }
	if got := lease(t, ob, outbox.LeaseOptions{Max: 1, TTL: 10 * time.Second, Now: t0.Add(20 * time.Second), Allow: none}); len(got) != 0 {
		t.Fatalf("leased %v though Allow refused every destination", ids(got))
	}
	if got := lease(t, ob, outbox.LeaseOptions{Max: 1, TTL: 10 * time.Second, Now: t0.Add(5 * time.Second)}); len(got) != 0 {
		t.Fatalf("leased %v within its lease, after a call whose Now was past the lease", ids(got))
	}
	second := lease(t, ob, outbox.LeaseOptions{Max: 1, TTL: 10 * time.Second, Now: t0.Add(11 * time.Second)})
	if len(second) != 1 || second[0].Token == first[0].Token {
		t.Fatalf("after the lease ran out leased %v, want x under a new token", ids(second))
	}
	must(t, "Ack x", ack(ob, "x", second[0].Token))
}

func testLeaseAheadOfLeased(t *testing.T, ob outbox.Outbox) {
	t0 := time.Now()
	var ds []outbox.Delivery
	for i := range 6 {
		d := mk(fmt.Sprint("q", i), "a")
		d.Due = t0.Add(time.Duration(i-10) * time.Second)
		ds = append(ds, d)
	}
	put(t, ob, ds...)
	held := lease(t, ob, outbox.LeaseOptions{Max: 4, TTL: time.Minute, Now: t0})
	if got := ids(held); !slices.Equal(got, []string{"q0", "q1", "q2", "q3"}) {
		t.Fatalf("leased %v, want the four due first", got)
	}
	token := map[string]string{}
	for _, l := range held {
		token[l.ID] = l.Token
	}
	next := func(want ...string) {
		t.Helper()
		got := lease(t, ob, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: t0})
		if !slices.Equal(ids(got), want) {
			t.Fatalf("leased %v, want %v", ids(got), want)
		}
		for _, l := range got {
			token[l.ID] = l.Token
		}
	}
	// Due before everything leased.
	early := mk("early", "a")
	early.Due = t0.Add(-time.Hour)
	put(t, ob, early)
	next("early")
	// Rescheduled to before the others.
	if err := reschedule(ob, "q3", token["q3"], t0.Add(-2*time.Hour), outbox.AttemptRecord{At: t0}); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	next("q3")
	next("q4")
	// Released, behind the last one leased.
	if err := release(ob, "q1", token["q1"]); err != nil {
		t.Fatalf("Release: %v", err)
	}
	next("q1")
	// Leases that ran out: the earliest due comes first again.
	got := lease(t, ob, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: t0.Add(61 * time.Second)})
	if len(got) != 1 || got[0].ID != "q3" {
		t.Fatalf("after the leases ran out leased %v, want [q3]", ids(got))
	}
}

// testSettle: a batch of every outcome, with a lost lease among them,
// records each as one settlement of it alone would.
func testSettle(t *testing.T, ob outbox.Outbox) {
	put(t, ob, mk("ack", "a"), mk("retry", "a"), mk("dead", "a"), mk("back", "a"), mk("lost", "a"))
	now := time.Now()
	ls := lease(t, ob, outbox.LeaseOptions{Max: 5, TTL: time.Minute, Now: now})
	if len(ls) != 5 {
		t.Fatalf("leased %d of 5", len(ls))
	}
	token := map[string]string{}
	for _, l := range ls {
		token[l.ID] = l.Token
	}
	a := outbox.AttemptRecord{At: now, Status: 503, Tries: 1, Error: "busy"}
	errs := ob.Settle(ctx, []outbox.Settlement{
		{ID: "ack", Token: token["ack"], Outcome: outbox.Delivered},
		{ID: "retry", Token: token["retry"], Outcome: outbox.Retrying, Due: now.Add(time.Hour), Attempt: a},
		{ID: "dead", Token: token["dead"], Outcome: outbox.DeadLettered, Reason: "gone (410)", Attempt: a},
		{ID: "back", Token: token["back"], Outcome: outbox.Released},
		{ID: "lost", Token: "not-the-token", Outcome: outbox.Delivered},
	})
	if len(errs) != 5 {
		t.Fatalf("Settle returned %d errors for 5 settlements", len(errs))
	}
	for i, err := range errs[:4] {
		if err != nil {
			t.Errorf("settlement %d: %v", i, err)
		}
	}
	if !errors.Is(errs[4], outbox.ErrLeaseLost) {
		t.Errorf("settlement with a wrong token: %v, want ErrLeaseLost", errs[4])
	}
	// The released delivery is due again; the lost one is still leased;
	// the rescheduled one is due in an hour.
	if got := ids(lease(t, ob, outbox.LeaseOptions{Max: 5, TTL: time.Minute, Now: now})); !slices.Equal(got, []string{"back"}) {
		t.Errorf("leased %v after Settle, want [back]", got)
	}
	if err := ack(ob, "lost", token["lost"]); err != nil {
		t.Errorf("the lease a wrong token tried to settle is gone: %v", err)
	}
	if errs := ob.Settle(ctx, nil); len(errs) != 0 {
		t.Errorf("Settle of nothing returned %v", errs)
	}
	if got := ids(lease(t, ob, outbox.LeaseOptions{Max: 5, TTL: time.Minute, Now: now.Add(2 * time.Hour)})); !slices.Equal(got, []string{"back", "retry"}) {
		t.Errorf("leased %v in two hours, want [back retry] (ack gone, dead dead)", got)
	}
	wantStats(t, ob, outbox.Stats{Pending: 2, Leased: 2, Dead: 1}, "after Settle")
	if h, err := adm(t, ob).History(ctx, "retry"); err != nil || len(h) != 1 || h[0].Status != 503 {
		t.Errorf("History of the rescheduled delivery = %+v, %v", h, err)
	}
	dl, err := adm(t, ob).DeadLetters(ctx, outbox.DeadLetterQuery{})
	if err != nil || len(dl) != 1 || dl[0].ID != "dead" || dl[0].Reason != "gone (410)" {
		t.Errorf("DeadLetters = %+v, %v", dl, err)
	}
}
