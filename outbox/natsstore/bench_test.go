package natsstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender/sendertest"
)

// BenchmarkDeliver measures deliveries per second through 1 and through 3
// workers (Queues of 16 each, each with its own connection) sharing one
// outbox, when the receiver answers after 20 ms. Each iteration puts 600
// deliveries and waits until all were delivered.
func BenchmarkDeliver(b *testing.B) {
	const batch = 600
	for _, nw := range []int{1, 3} {
		b.Run(fmt.Sprintf("workers=%d", nw), func(b *testing.B) {
			s := natstest.Start(b, nil)
			rcv := sendertest.NewReceiver(b, nil, sendertest.Delay(20*time.Millisecond))
			o := fleetOpts{cfg: freshConfig(), workers: 16, leaseTTL: 30 * time.Second}
			var ws []*worker
			for range nw {
				ws = append(ws, startWorkerTB(b, s.ClientURL(), rcv, o))
			}
			total := func() int64 {
				var n int64
				for _, w := range ws {
					n += w.metrics.delivered.Load()
				}
				return n
			}
			b.ResetTimer()
			var busy time.Duration
			for i := range b.N {
				// The deliveries become due together, once all are
				// stored: the clock runs from then until the last is
				// delivered.
				b.StopTimer()
				due := time.Now().Add(200 * time.Millisecond)
				putDue(b, ws[0].ob, fmt.Sprint("b", i), batch, due)
				time.Sleep(time.Until(due))
				b.StartTimer()
				for total() < int64((i+1)*batch) {
					time.Sleep(time.Millisecond)
				}
				busy += time.Since(due)
			}
			b.ReportMetric(float64(b.N*batch)/busy.Seconds(), "deliveries/s")
		})
	}
}

// putDue puts n deliveries due at due.
func putDue(b *testing.B, ob outbox.Outbox, prefix string, n int, due time.Time) {
	ds := make([]outbox.Delivery, n)
	for i := range ds {
		ds[i] = outbox.Delivery{ID: fmt.Sprintf("%s-%05d", prefix, i), Destination: "sendertest", Body: []byte(`{}`), Due: due}
	}
	if err := ob.Put(context.Background(), ds...); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEnqueue compares Put of one delivery at a time, from parallel
// goroutines, on the JetStream outbox and on the bbolt outbox.
func BenchmarkEnqueue(b *testing.B) {
	body := []byte(`{"event":"job:done","payload":{"id":12345,"status":"ok"}}`)
	run := func(b *testing.B, ob outbox.Outbox) {
		var n atomic.Int64
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := fmt.Sprint("e", n.Add(1))
				if err := ob.Put(context.Background(), outbox.Delivery{ID: id, Destination: "d", Body: body}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
	}
	b.Run("jetstream", func(b *testing.B) {
		s := natstest.Start(b, nil)
		_, js := natstest.Connect(b, s.ClientURL())
		run(b, open(b, js, freshConfig()))
	})
	b.Run("bbolt", func(b *testing.B) {
		st, err := boltstore.Open(filepath.Join(b.TempDir(), "outbox.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		run(b, st)
	})
}

// BenchmarkPutHeld measures a Put of 256 deliveries whose ids the stream
// holds already (a client retrying a batch on another worker of the
// fleet), beside a Put of 256 new ones as the baseline. Each held id
// costs a read and a guarded rewrite of its record (see adopt).
func BenchmarkPutHeld(b *testing.B) {
	const batch = 256
	s := natstest.Start(b, nil)
	_, js := natstest.Connect(b, s.ClientURL())
	ob := open(b, js, freshConfig())
	far := time.Now().Add(time.Hour) // not leased meanwhile: nothing runs a Queue
	b.Run("fresh", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			putDue(b, ob, fmt.Sprint("f", i), batch, far)
		}
	})
	b.Run("held", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			putDue(b, ob, fmt.Sprint("h", i), batch, far)
			b.StartTimer()
			putDue(b, ob, fmt.Sprint("h", i), batch, far)
		}
	})
}
