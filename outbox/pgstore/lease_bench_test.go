package pgstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
)

// heldLine is an outbox holding one ordered line of n deliveries whose
// head is leased, and a few deliveries without a key, due after the whole
// line: what a Lease finds in it is those few, released again after each
// Lease.
type heldLine struct {
	ob  outbox.Outbox
	now time.Time
}

// heldLineUnkeyed is how many deliveries without a key a heldLine holds.
const heldLineUnkeyed = 3

// newHeldLine fills an outbox in a schema of its own with a line of n
// deliveries and heldLineUnkeyed without a key, and leases the line's head.
func newHeldLine(tb testing.TB, ob outbox.Outbox, n int) *heldLine {
	tb.Helper()
	now := time.Now()
	const batch = 1000
	for i := 0; i < n; i += batch {
		var ds []outbox.Delivery
		for j := i; j < min(i+batch, n); j++ {
			ds = append(ds, outbox.Delivery{ID: fmt.Sprintf("k%06d", j), Destination: "d", PartitionKey: "K",
				Body: []byte("{}"), Due: now.Add(-time.Hour), Created: now})
		}
		if err := ob.Put(ctx, ds...); err != nil {
			tb.Fatal(err)
		}
	}
	var free []outbox.Delivery
	for i := range heldLineUnkeyed {
		free = append(free, outbox.Delivery{ID: fmt.Sprint("free", i), Destination: "d", Body: []byte("{}"), Due: now, Created: now})
	}
	if err := ob.Put(ctx, free...); err != nil {
		tb.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: 24 * time.Hour, Now: now})
	if err != nil || len(ls) != 1 || ls[0].ID != "k000000" {
		tb.Fatalf("leasing the head: %v, %v", ls, err)
	}
	return &heldLine{ob: ob, now: now}
}

// lease leases what h offers, checks that it is the deliveries without a
// key, and returns how long the Lease took; it releases them again
// before returning, outside the time it reports.
func (h *heldLine) lease(tb testing.TB) time.Duration {
	start := time.Now()
	ls, err := h.ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: h.now.Add(time.Second)})
	took := time.Since(start)
	if err != nil || len(ls) != heldLineUnkeyed {
		tb.Fatalf("Lease behind a held line = %d deliveries, %v; want the %d without a key", len(ls), err, heldLineUnkeyed)
	}
	ss := make([]outbox.Settlement, len(ls))
	for i, l := range ls {
		if l.PartitionKey != "" {
			tb.Fatalf("leased %s of the held line", l.ID)
		}
		ss[i] = outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Released}
	}
	for _, err := range h.ob.Settle(ctx, ss) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return took
}

// BenchmarkLeaseHeldLine measures a Lease of an outbox whose one ordered
// line has its head leased and a backlog behind it, for a backlog of 1,000
// and of 50,000 deliveries side by side, and reports the time of each
// Lease and their ratio: the Lease should cost the same whatever the
// backlog behind a held head.
func BenchmarkLeaseHeldLine(b *testing.B) {
	pool := newPool(b)
	sizes := []int{1_000, 50_000}
	lines := make([]*heldLine, len(sizes))
	for i, n := range sizes {
		lines[i] = newHeldLine(b, open(b, pool, &pgstore.Options{Schema: fmt.Sprint("held_", n)}), n)
	}
	took := make([]time.Duration, len(sizes))
	runs := 0
	for b.Loop() {
		for i, h := range lines {
			took[i] += h.lease(b)
		}
		runs++
	}
	per := func(i int) float64 { return float64(took[i].Nanoseconds()) / float64(runs) }
	b.ReportMetric(per(0), "ns/lease-1k")
	b.ReportMetric(per(1), "ns/lease-50k")
	b.ReportMetric(per(1)/per(0), "ratio-50k/1k")
}

// BenchmarkDrainUnkeyed drains deliveries without a key as a Queue does,
// leasing 64 at a time and settling them delivered in one call, and
// reports the time per delivery: the path that ordered lines must not
// slow down.
func BenchmarkDrainUnkeyed(b *testing.B) { benchDrain(b, 0) }

// BenchmarkDrainKeyed is BenchmarkDrainUnkeyed for deliveries spread
// over 512 lines (one delivery each) and over 64 lines (eight each).
func BenchmarkDrainKeyed(b *testing.B) {
	for _, lines := range []int{512, 64} {
		b.Run(fmt.Sprint("lines=", lines), func(b *testing.B) { benchDrain(b, lines) })
	}
}

// benchDrain drains batches of 512 deliveries, spread over lines lines
// of partition keys, or without a key when lines is 0.
func benchDrain(b *testing.B, lines int) {
	ob := open(b, newPool(b), nil)
	const batch = 512
	now := time.Now()
	done := 0
	for b.Loop() {
		b.StopTimer()
		ds := make([]outbox.Delivery, batch)
		for i := range ds {
			ds[i] = outbox.Delivery{ID: fmt.Sprint("u", done+i), Destination: "d", Body: []byte("{}"), Due: now, Created: now}
			if lines > 0 {
				ds[i].PartitionKey = fmt.Sprint("K", i%lines)
			}
		}
		if err := ob.Put(ctx, ds...); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for left := batch; left > 0; {
			ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 64, TTL: time.Minute, Now: now.Add(time.Second)})
			if err != nil || len(ls) == 0 {
				b.Fatalf("Lease = %d, %v with %d left", len(ls), err, left)
			}
			ss := make([]outbox.Settlement, len(ls))
			for i, l := range ls {
				ss[i] = outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}
			}
			for _, err := range ob.Settle(ctx, ss) {
				if err != nil {
					b.Fatal(err)
				}
			}
			left -= len(ls)
		}
		done += batch
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(done), "ns/delivery")
}
