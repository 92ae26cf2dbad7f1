package outbox_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
)

// BenchmarkQueueVsSend delivers b.N messages of 1 KiB to one loopback TLS
// receiver, 32 at a time, twice: directly with Sender.Send from 32
// goroutines, and through a Queue of 32 workers over an outbox filled
// before each round (lease, send, then a durable ack). Both are warmed up
// by a first round: the Sender's connections, and the outbox, which stays
// open across rounds as a worker's does. It alternates the two in rounds,
// so that noise from elsewhere hits both alike, and reports both rates and
// their ratio ("x-queue/send"; 1 means no overhead):
//
//	go test -run '^$' -bench QueueVsSend -benchtime 20000x ./outbox/
func BenchmarkQueueVsSend(b *testing.B) {
	for _, store := range []string{"bolt", "memory"} {
		b.Run(store, func(b *testing.B) { benchQueueVsSend(b, store) })
	}
}

func benchQueueVsSend(b *testing.B, store string) {
	const conc, rounds = 32, 3
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	srv.EnableHTTP2 = false
	srv.StartTLS()
	defer srv.Close()
	snd := loopbackSender(b, srv)
	dest := sender.Destination{Name: "bench", URL: srv.URL, Signer: standard(b)}
	body := bytes.Repeat([]byte("x"), 1024)
	per := max(b.N/rounds, conc)

	direct := func(round int) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(per) {
					if _, err := snd.Send(ctx, dest, sender.Message{Body: body}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	// One outbox for every round, as a worker keeps its file open: its
	// pages are mapped and its free pages reused after the first round.
	var ob outbox.Outbox
	if store == "bolt" {
		s, err := boltstore.Open(filepath.Join(b.TempDir(), "queue.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		ob = s
	} else {
		ob = outbox.NewMemory()
	}
	defer ob.Close()
	queued := func(round int) time.Duration {
		ds := make([]outbox.Delivery, 0, 1000)
		for i := 0; i < per; i++ {
			ds = append(ds, outbox.Delivery{ID: fmt.Sprintf("r%d-%d", round, i), Destination: "bench", Body: body})
			if len(ds) == cap(ds) || i == per-1 {
				if err := ob.Put(ctx, ds...); err != nil {
					b.Fatal(err)
				}
				ds = ds[:0]
			}
		}
		all := &countDown{left: int64(per), done: make(chan struct{})}
		q := &outbox.Queue{Outbox: ob, Sender: snd, Destinations: []sender.Destination{dest},
			Workers: conc, PerDestination: conc, Metrics: all}
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- q.Run(ctx) }()
		<-all.done // every delivery sent, and its acknowledgement committed
		elapsed := time.Since(start)
		q.Shutdown(ctx)
		<-done
		return elapsed
	}

	direct(-1) // warm the connection pool
	queued(-1) // and the outbox
	var td, tq time.Duration
	b.ResetTimer()
	for round := range rounds {
		td += direct(round)
		tq += queued(round)
	}
	b.StopTimer()
	n := float64(per * rounds)
	sendRate, queueRate := n/td.Seconds(), n/tq.Seconds()
	b.ReportMetric(sendRate, "send/s")
	b.ReportMetric(queueRate, "queue/s")
	b.ReportMetric(queueRate/sendRate, "x-queue/send")
}

// countDown is a Metrics that closes done once left deliveries were
// delivered and acknowledged. Waiting on it, rather than polling Stats,
// keeps the benchmark from measuring Stats.
type countDown struct {
	left int64
	done chan struct{}
}

func (c *countDown) Observe(e outbox.Sample) {
	if e.Outcome == outbox.Delivered && atomic.AddInt64(&c.left, -1) == 0 {
		close(c.done)
	}
}

func (c *countDown) Depth(outbox.Stats, int) {}
