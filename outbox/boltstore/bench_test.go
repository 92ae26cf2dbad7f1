package boltstore_test

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// Durable enqueue: every Put returns after its fsync. With one enqueuer
// each Put pays a whole commit; with 64, the committer groups the Puts that
// wait while it commits, so they share fsyncs.
//
//	go test -run '^$' -bench 'Enqueue|Pending' ./outbox/boltstore/
//
// BenchmarkEnqueueGrouping runs both within one benchmark, so that they see
// the same disk, and reports the gain as a ratio ("x-grouping").

var body256 = bytes.Repeat([]byte("x"), 256)

// enqueue makes n durable Puts of one delivery each from g goroutines.
func enqueue(b *testing.B, s outbox.Store, prefix string, n, g int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if err := s.Put(ctx, outbox.Delivery{ID: fmt.Sprintf("%s-%d", prefix, i), Destination: "d", Body: body256}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkEnqueue(b *testing.B) {
	for _, g := range []int{1, 64} {
		b.Run(fmt.Sprintf("enqueuers=%d", g), func(b *testing.B) {
			s, _ := open(b)
			b.ResetTimer()
			enqueue(b, s, "e", b.N, g)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "enqueues/s")
		})
	}
}

func BenchmarkEnqueueGrouping(b *testing.B) {
	s, _ := open(b)
	rate := func(prefix string, g int) float64 {
		start := time.Now()
		enqueue(b, s, prefix, b.N, g)
		return float64(b.N) / time.Since(start).Seconds()
	}
	var r1, r64 float64
	for round := range 2 { // alternate, so that drift hits both alike
		r1 += rate(fmt.Sprint("one", round), 1)
		r64 += rate(fmt.Sprint("many", round), 64)
	}
	b.ReportMetric(r1/2, "enq/s-1")
	b.ReportMetric(r64/2, "enq/s-64")
	b.ReportMetric(r64/r1, "x-grouping")
}

// BenchmarkPendingMemory stores 100,000 pending deliveries of 4 KiB (400 MiB
// of bodies) and reports the heap in use after a GC: empty, with the
// 100,000 pending after a Lease, and again after reopening the file (which
// checks every record). Bodies stay on disk, so the heap does not grow with
// them. The timed operation (ns/op) is a Lease of 32 deliveries from the
// full store, followed by their Release.
func BenchmarkPendingMemory(b *testing.B) {
	const n, batch = 100_000, 1000
	heap := func() float64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapInuse) / (1 << 20)
	}
	s, path := open(b)
	base := heap()
	body := bytes.Repeat([]byte("b"), 4096)
	ds := make([]outbox.Delivery, batch)
	for i := 0; i < n; i += batch {
		for j := range ds {
			ds[j] = outbox.Delivery{ID: fmt.Sprintf("id-%07d", i+j), Destination: fmt.Sprint("d", j%4), Body: body}
		}
		if err := s.Put(ctx, ds...); err != nil {
			b.Fatal(err)
		}
	}
	ds = nil
	lease := func(s outbox.Store) {
		ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 32, TTL: time.Minute, Now: time.Now()})
		if err != nil || len(ls) != 32 {
			b.Fatalf("Lease: %d, %v", len(ls), err)
		}
		for _, l := range ls {
			if err := s.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.Released}})[0]; err != nil {
				b.Fatal(err)
			}
		}
	}
	lease(s)
	full := heap()
	s2 := reopen(b, s, path)
	if st, _ := s2.Stats(ctx); st.Pending != n {
		b.Fatalf("Pending = %d after reopen", st.Pending)
	}
	reopened := heap()
	b.ResetTimer()
	for range b.N {
		lease(s2)
	}
	b.StopTimer()
	b.ReportMetric(base, "heap-MiB-empty")
	b.ReportMetric(full, "heap-MiB-100k")
	b.ReportMetric(reopened, "heap-MiB-reopened")
}

// BenchmarkAck measures settling leased deliveries from 32 goroutines:
// the durable write behind every delivery a Queue makes.
func BenchmarkAck(b *testing.B) {
	s, _ := open(b)
	putN(b, s, b.N, bytes.Repeat([]byte("x"), 1024))
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: b.N, TTL: time.Hour, Now: time.Now()})
	if err != nil || len(ls) != b.N {
		b.Fatalf("Lease: %d, %v", len(ls), err)
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	work := make(chan outbox.Leased, 64)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range work {
				if err := s.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}})[0]; err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for _, l := range ls {
		work <- l
	}
	close(work)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acks/s")
}

// putN stores n deliveries of body to one destination, due now, in
// batches of 1000.
func putN(b *testing.B, s outbox.Store, n int, body []byte) {
	ds := make([]outbox.Delivery, 0, 1000)
	for i := range n {
		ds = append(ds, outbox.Delivery{ID: fmt.Sprintf("a-%08d", i), Destination: "receiver", Body: body})
		if len(ds) == cap(ds) || i == n-1 {
			if err := s.Put(ctx, ds...); err != nil {
				b.Fatal(err)
			}
			ds = ds[:0]
		}
	}
}

// BenchmarkLeaseAck leases 1 KiB deliveries 64 at a time and acknowledges
// each lease's deliveries in one Settle, as a Queue's leasing loop and
// settler do, and reports the allocations and time per delivery (an op is
// one delivery): what the store adds to every delivery a Queue makes.
//
//	go test -run '^$' -bench LeaseAck -benchmem ./outbox/boltstore/
func BenchmarkLeaseAck(b *testing.B) {
	const batch = 64
	s, _ := open(b)
	putN(b, s, b.N, bytes.Repeat([]byte("x"), 1024))
	ss := make([]outbox.Settlement, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: batch, TTL: time.Hour, Now: time.Now()})
		if err != nil || len(ls) == 0 {
			b.Fatalf("Lease: %d, %v", len(ls), err)
		}
		ss = ss[:0]
		for _, l := range ls {
			ss = append(ss, outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered})
		}
		for _, err := range s.Settle(ctx, ss) {
			if err != nil {
				b.Fatal(err)
			}
		}
		done += len(ls)
	}
}
