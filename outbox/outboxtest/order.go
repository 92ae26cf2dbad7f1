package outboxtest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// The ordering checks, run for a store that says it keeps the order of a
// partition key (a method OrdersByKey() bool that returns true; see
// outbox.Queue). Such a store must lease a delivery with a PartitionKey
// only once every delivery put before it with the same destination and key
// is delivered or dead-lettered: while an earlier one is pending (due or
// not, rescheduled, released, its lease live or run out) or leased, the
// later ones wait. Put order is the order of Put calls, and within one Put
// the order of its deliveries; a replayed dead letter goes to the back of
// its line, and dead letters of one line replayed together go back in the
// order they held in it (the order they died in). Deliveries without a key, and other keys or destinations, are
// not held back.

// orderTests are the ordering subtests that Run runs.
var orderTests = []struct {
	name string
	f    func(t *testing.T, ob outbox.Outbox)
}{
	{"OrderLines", testOrderLines},
	{"OrderPutOrder", testOrderPutOrder},
	{"OrderLeaseExpiry", testOrderLeaseExpiry},
	{"OrderReplay", testOrderReplay},
	{"OrderReplayLine", testOrderReplayLine},
	{"OrderIdempotent", testOrderIdempotent},
	{"OrderIDOtherDestination", testOrderIDOtherDestination},
	{"OrderConcurrent", testOrderConcurrent},
}

// ordered skips the rest of the subtest unless ob keeps key order.
func ordered(t *testing.T, ob outbox.Outbox) {
	t.Helper()
	ko, ok := ob.(interface{ OrdersByKey() bool })
	if !ok || !ko.OrdersByKey() {
		t.Skip("the outbox does not keep the order of a partition key")
	}
}

// mkKey returns mk(id, dest) with a partition key.
func mkKey(id, dest, key string) outbox.Delivery {
	d := mk(id, dest)
	d.PartitionKey = key
	return d
}

// leaseIDs leases with o and returns the sorted ids, failing on an error.
func leaseIDs(t *testing.T, ob outbox.Outbox, o outbox.LeaseOptions) ([]outbox.Leased, []string) {
	t.Helper()
	ls := lease(t, ob, o)
	return ls, ids(ls)
}

// leaseWant leases with o and fails the test, saying when, unless it
// leased exactly the deliveries want (sorted ids). It returns the leases.
func leaseWant(t *testing.T, ob outbox.Outbox, o outbox.LeaseOptions, when string, want ...string) []outbox.Leased {
	t.Helper()
	ls, got := leaseIDs(t, ob, o)
	if !slices.Equal(got, want) {
		t.Fatalf("%s, leased %v, want %v", when, got, want)
	}
	return ls
}

// must fails the test on err.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// token returns the lease token of id among ls.
func token(t *testing.T, ls []outbox.Leased, id string) string {
	t.Helper()
	for _, l := range ls {
		if l.ID == id {
			return l.Token
		}
	}
	t.Fatalf("%s is not among the leased %v", id, ids(ls))
	return ""
}

func testOrderLines(t *testing.T, ob outbox.Outbox) {
	ordered(t, ob)
	put(t, ob, mkKey("a1", "d", "A"), mkKey("b1", "d", "B"), mkKey("a2", "d", "A"), mk("n1", "d"),
		mkKey("a3", "d", "A"), mkKey("b2", "d", "B"), mk("n2", "d"), mkKey("e1", "e", "A"), mkKey("e2", "e", "A"))
	wantStats(t, ob, outbox.Stats{Pending: 9}, "after Put")
	ls := leaseWant(t, ob, outbox.LeaseOptions{Max: 100, TTL: 10 * time.Hour}, "the head of each line and those without a key",
		"a1", "b1", "e1", "n1", "n2")
	for _, l := range ls {
		if want := map[string]string{"a1": "A", "b1": "B", "e1": "A"}[l.ID]; l.PartitionKey != want {
			t.Errorf("%s leased with key %q, want %q", l.ID, l.PartitionKey, want)
		}
	}
	wantStats(t, ob, outbox.Stats{Pending: 9, Leased: 5}, "after Lease")
	leaseWant(t, ob, outbox.LeaseOptions{Max: 100}, "while the heads of their lines are leased")
	// A head that fails keeps its place: due again, it comes back, not
	// the next one.
	now := time.Now()
	must(t, "Reschedule a1", reschedule(ob, "a1", token(t, ls, "a1"), now, outbox.AttemptRecord{At: now, Status: 503, Error: "503"}))
	leaseWant(t, ob, outbox.LeaseOptions{Max: 100, TTL: time.Minute, Now: now.Add(time.Second)}, "after a1 failed", "a1")
	// A head rescheduled far ahead still holds its line.
	a1 := lease(t, ob, outbox.LeaseOptions{Max: 100, TTL: time.Minute, Now: now.Add(2 * time.Minute)})
	if len(a1) != 1 || a1[0].ID != "a1" || a1[0].Attempts != 1 {
		t.Fatalf("after a1's lease ran out, leased %v, want [a1] with 1 attempt", ids(a1))
	}
	must(t, "Reschedule a1", reschedule(ob, "a1", a1[0].Token, now.Add(time.Hour), outbox.AttemptRecord{At: now, Error: "503"}))
	leaseWant(t, ob, outbox.LeaseOptions{Max: 100, Now: now.Add(3 * time.Minute)}, "while a1 waits for its retry")
	must(t, "Ack b1", ack(ob, "b1", token(t, ls, "b1")))
	must(t, "Ack e1", ack(ob, "e1", token(t, ls, "e1")))
	next := leaseWant(t, ob, outbox.LeaseOptions{Max: 100, TTL: 10 * time.Hour, Now: now.Add(4 * time.Minute)}, "after b1 and e1 were delivered", "b2", "e2")
	// A dead head lets the next one go.
	a1 = lease(t, ob, outbox.LeaseOptions{Max: 100, TTL: time.Minute, Now: now.Add(2 * time.Hour)})
	if len(a1) != 1 || a1[0].ID != "a1" {
		t.Fatalf("after a1's retry fell due, leased %v, want [a1]", ids(a1))
	}
	must(t, "DeadLetter a1", deadLetter(ob, "a1", a1[0].Token, "gone (410)", outbox.AttemptRecord{At: now, Status: 410}))
	a2 := leaseWant(t, ob, outbox.LeaseOptions{Max: 100, TTL: time.Minute, Now: now.Add(2 * time.Hour)}, "after a1 died", "a2")
	must(t, "Ack a2", ack(ob, "a2", a2[0].Token))
	a3 := leaseWant(t, ob, outbox.LeaseOptions{Max: 100, TTL: time.Minute, Now: now.Add(2 * time.Hour)}, "after a2 was delivered", "a3")
	for _, l := range append(append(a3, next...), ls...) {
		if l.ID != "a1" && l.ID != "b1" && l.ID != "e1" {
			must(t, "Ack "+l.ID, ack(ob, l.ID, l.Token))
		}
	}
	wantStats(t, ob, outbox.Stats{Dead: 1}, "at the end")
	leaseWant(t, ob, outbox.LeaseOptions{Max: 100, Now: now.Add(48 * time.Hour)}, "after every line was done")
}

func testOrderPutOrder(t *testing.T, ob outbox.Outbox) {
	ordered(t, ob)
	now := time.Now()
	// Put order wins over due times: x2 is due first, but put after x1.
	x1, x2 := mkKey("x1", "d", "K"), mkKey("x2", "d", "K")
	x1.Due = now.Add(time.Hour)
	put(t, ob, x1)
	put(t, ob, x2)
	leaseWant(t, ob, outbox.LeaseOptions{Max: 10, Now: now.Add(time.Minute)}, "before x1, put first, is due")
	// Within one Put, the order of its deliveries, whatever the ids.
	put(t, ob, mkKey("y3", "d", "Y"), mkKey("y1", "d", "Y"), mkKey("y2", "d", "Y"))
	for _, want := range []string{"y3", "y1", "y2"} {
		ls := leaseWant(t, ob, outbox.LeaseOptions{Max: 10, Now: now.Add(time.Minute)}, "in order", want)
		must(t, "Ack "+want, ack(ob, want, ls[0].Token))
	}
	for _, want := range []string{"x1", "x2"} {
		ls := leaseWant(t, ob, outbox.LeaseOptions{Max: 10, Now: now.Add(2 * time.Hour)}, "in order", want)
		must(t, "Ack "+want, ack(ob, want, ls[0].Token))
	}
}

func testOrderLeaseExpiry(t *testing.T, ob outbox.Outbox) {
	ordered(t, ob)
	put(t, ob, mkKey("k1", "d", "K"), mkKey("k2", "d", "K"))
	t0 := time.Now()
	first := lease(t, ob, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: t0})
	if got := ids(first); !slices.Equal(got, []string{"k1"}) {
		t.Fatalf("leased %v, want [k1]", got)
	}
	// The head's lease runs out: the head is due again, not the next.
	second := leaseWant(t, ob, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: t0.Add(61 * time.Second)}, "after k1's lease ran out", "k1")
	must(t, "Release k1", release(ob, "k1", second[0].Token))
	third := leaseWant(t, ob, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: t0.Add(62 * time.Second)}, "after k1 was released", "k1")
	must(t, "Ack k1", ack(ob, "k1", third[0].Token))
	leaseWant(t, ob, outbox.LeaseOptions{Max: 10, Now: t0.Add(63 * time.Second)}, "after k1 was delivered", "k2")
}

func testOrderReplay(t *testing.T, ob outbox.Outbox) {
	ordered(t, ob)
	ad := adm(t, ob)
	put(t, ob, mkKey("r1", "d", "R"), mkKey("r2", "d", "R"))
	now := time.Now()
	ls := lease(t, ob, outbox.LeaseOptions{Max: 10, Now: now})
	must(t, "DeadLetter r1", deadLetter(ob, "r1", token(t, ls, "r1"), "rejected: 400", outbox.AttemptRecord{At: now, Status: 400}))
	r2 := leaseWant(t, ob, outbox.LeaseOptions{Max: 10, Now: now}, "after r1 died", "r2")
	// Replayed, r1 goes to the back of its line: behind r2, leased.
	if n, err := ad.Replay(ctx, outbox.Selector{IDs: []string{"r1"}}); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	wantStats(t, ob, outbox.Stats{Pending: 2, Leased: 1}, "after Replay")
	leaseWant(t, ob, outbox.LeaseOptions{Max: 10, Now: now.Add(time.Second)}, "while r2 is leased")
	if h, err := ad.History(ctx, "r1"); err != nil || len(h) != 1 {
		t.Fatalf("History of the replayed r1 = %v, %v", h, err)
	}
	must(t, "Ack r2", ack(ob, "r2", r2[0].Token))
	r1 := leaseWant(t, ob, outbox.LeaseOptions{Max: 10, Now: now.Add(time.Second)}, "after r2 was delivered", "r1")
	if r1[0].PartitionKey != "R" {
		t.Fatalf("r1 leased with key %q, want R", r1[0].PartitionKey)
	}
	must(t, "Ack r1", ack(ob, "r1", r1[0].Token))
	wantStats(t, ob, outbox.Stats{}, "at the end")
}

// testOrderReplayLine: a line whose deliveries all died, replayed by one
// call, goes out again in its order, whatever the order of the ids, of
// the Selector's ids, or of the store's index. Its ids sort unlike the
// line, so that a store walking ids, or a map, gets it wrong.
func testOrderReplayLine(t *testing.T, ob outbox.Outbox) {
	ordered(t, ob)
	ad := adm(t, ob)
	line := []string{"z1", "m2", "a3", "q4", "b5", "k6"}
	for _, sel := range []struct {
		name string
		s    outbox.Selector
	}{
		{"All", outbox.Selector{All: true}},
		{"Destination", outbox.Selector{Destination: "d"}},
		{"IDs", outbox.Selector{IDs: []string{"b5", "a3", "z1", "k6", "q4", "m2"}}},
	} {
		var ds []outbox.Delivery
		for _, id := range line {
			ds = append(ds, mkKey(id, "d", "L"))
		}
		put(t, ob, ds...)
		now := time.Now()
		for _, id := range line {
			ls := leaseWant(t, ob, outbox.LeaseOptions{Max: 10, Now: now}, "dead-lettering the line", id)
			must(t, "DeadLetter "+id, deadLetter(ob, id, ls[0].Token, "rejected: 400", outbox.AttemptRecord{At: now, Status: 400}))
		}
		if n, err := ad.Replay(ctx, sel.s); err != nil || n != len(line) {
			t.Fatalf("Replay by %s = %d, %v; want %d", sel.name, n, err, len(line))
		}
		for _, id := range line {
			ls := leaseWant(t, ob, outbox.LeaseOptions{Max: 10, Now: now.Add(time.Second)}, fmt.Sprintf("after a Replay by %s", sel.name), id)
			must(t, "Ack "+id, ack(ob, id, ls[0].Token))
		}
		wantStats(t, ob, outbox.Stats{}, "at the end")
	}
}

func testOrderIdempotent(t *testing.T, ob outbox.Outbox) {
	ordered(t, ob)
	put(t, ob, mkKey("i1", "d", "I"), mkKey("i2", "d", "I"))
	put(t, ob, mkKey("i1", "d", "I"), mkKey("i2", "d", "I")) // held already: dropped
	wantStats(t, ob, outbox.Stats{Pending: 2}, "after two Puts")
	for _, want := range []string{"i1", "i2"} {
		ls := leaseWant(t, ob, outbox.LeaseOptions{Max: 10}, "in order", want)
		must(t, "Ack "+want, ack(ob, want, ls[0].Token))
	}
	leaseWant(t, ob, outbox.LeaseOptions{Max: 10}, "after a second Put of held ids (it must make no copy)")
}

// testOrderIDOtherDestination: a Put of deliveries with keys that a held
// id for another destination refuses leaves no trace in their lines.
func testOrderIDOtherDestination(t *testing.T, ob outbox.Outbox) {
	ordered(t, ob)
	put(t, ob, mkKey("o1", "d", "O"))
	err := ob.Put(ctx, mkKey("o2", "d", "O"), mkKey("p1", "d", "P"), mkKey("o1", "e", "O"))
	wantConflict(t, err, "a keyed Put of a held id for another destination", "o1", "d", "e")
	put(t, ob, mkKey("p2", "d", "P"))
	ls := leaseWant(t, ob, outbox.LeaseOptions{Max: 10}, "after the refused Put", "o1", "p2")
	for _, l := range ls {
		must(t, "Ack "+l.ID, ack(ob, l.ID, l.Token))
	}
	leaseWant(t, ob, outbox.LeaseOptions{Max: 10}, "at the end")
}

// testOrderConcurrent has workers lease and settle deliveries of several
// keys at once, as a fleet sharing the store does, failing some: at no
// time are two deliveries of one key leased, and each key's deliveries are
// delivered in the order they were put.
func testOrderConcurrent(t *testing.T, ob outbox.Outbox) {
	ordered(t, ob)
	const keys, perKey, workers = 6, 15, 6
	var batch []outbox.Delivery
	for i := range perKey {
		for k := range keys {
			batch = append(batch, mkKey(fmt.Sprintf("c%d-%02d", k, i), "d", fmt.Sprint("key", k)))
		}
		if i%5 == 4 {
			put(t, ob, batch...)
			batch = batch[:0]
		}
	}
	var mu sync.Mutex
	inFlight := map[string]string{}    // key → id leased
	delivered := map[string][]string{} // key → ids in delivery order
	failed := map[string]bool{}        // ids failed once
	total := 0
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
				ls, err := ob.Lease(ctx, filled(outbox.LeaseOptions{Max: 3, TTL: time.Minute}))
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				for _, l := range ls {
					if other, busy := inFlight[l.PartitionKey]; busy {
						mu.Unlock()
						errc <- fmt.Errorf("%s leased while %s of the same key is", l.ID, other)
						return
					}
					inFlight[l.PartitionKey] = l.ID
				}
				done := total == keys*perKey
				mu.Unlock()
				if done {
					return
				}
				for _, l := range ls {
					mu.Lock()
					fail := !failed[l.ID] && len(l.ID)%2 == 0 && l.ID[len(l.ID)-1]%3 == 0
					failed[l.ID] = true
					delete(inFlight, l.PartitionKey)
					if !fail {
						delivered[l.PartitionKey] = append(delivered[l.PartitionKey], l.ID)
						total++
					}
					mu.Unlock()
					if fail {
						err = reschedule(ob, l.ID, l.Token, time.Now(), outbox.AttemptRecord{At: time.Now(), Status: 503})
					} else {
						err = ack(ob, l.ID, l.Token)
					}
					if err != nil {
						errc <- fmt.Errorf("settle %s: %w", l.ID, err)
						return
					}
				}
				if len(ls) == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for k := range keys {
		key := fmt.Sprint("key", k)
		got := delivered[key]
		if len(got) != perKey || !slices.IsSorted(got) {
			t.Errorf("%s delivered in the order %v, want %d in put order", key, got, perKey)
		}
	}
}
