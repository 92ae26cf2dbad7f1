package natsstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/natsstore"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// counter is a Metrics that counts deliveries.
type counter struct{ delivered, dead atomic.Int64 }

func (c *counter) Observe(e outbox.Sample) {
	switch e.Outcome {
	case outbox.Delivered:
		c.delivered.Add(1)
	case outbox.DeadLettered:
		c.dead.Add(1)
	}
}

func (c *counter) Depth(outbox.Stats, int) {}

// worker is one Queue over its own connection and store.
type worker struct {
	nc      *nats.Conn
	ob      outbox.Store
	q       *outbox.Queue
	metrics *counter
	cancel  context.CancelFunc
	done    chan error
}

// fleetOpts tune startWorker.
type fleetOpts struct {
	cfg      natsstore.Config
	workers  int // per Queue
	leaseTTL time.Duration
	schedule outbox.Schedule
	breaker  outbox.Breaker
}

// startWorker opens a connection and a store to url and runs a Queue
// delivering to rcv until the test ends.
func startWorker(t *testing.T, url string, rcv *sendertest.Receiver, o fleetOpts) *worker {
	t.Helper()
	return startWorkerTB(t, url, rcv, o)
}

// startFleet starts n workers (see startWorker) on url.
func startFleet(t *testing.T, url string, rcv *sendertest.Receiver, o fleetOpts, n int) []*worker {
	t.Helper()
	ws := make([]*worker, n)
	for i := range ws {
		ws[i] = startWorker(t, url, rcv, o)
	}
	return ws
}

// resent counts the sends of ids in got beyond the first of each.
func resent(got map[string]int, ids []string) int {
	n := 0
	for _, id := range ids {
		n += got[id] - 1
	}
	return n
}

// startWorkerTB is startWorker for tests and benchmarks.
func startWorkerTB(t testing.TB, url string, rcv *sendertest.Receiver, o fleetOpts) *worker {
	t.Helper()
	nc, js := natstest.Connect(t, url)
	w := &worker{nc: nc, ob: open(t, js, o.cfg), metrics: &counter{}, done: make(chan error, 1)}
	w.q = &outbox.Queue{
		Outbox: w.ob, Sender: rcv.Sender(), Destinations: []sender.Destination{rcv.Destination(nil)},
		Workers: o.workers, PerDestination: o.workers, LeaseTTL: o.leaseTTL, Poll: 10 * time.Millisecond,
		Schedule: o.schedule, Breaker: o.breaker, Metrics: w.metrics,
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.done <- w.q.Run(ctx) }()
	t.Cleanup(w.stop)
	return w
}

// stop stops the Queue and waits for it.
func (w *worker) stop() {
	w.cancel()
	<-w.done
	w.done <- nil // for a second stop
}

// putN puts n deliveries to the receiver's destination with ids
// prefix-00000..., in batches, and returns the ids.
func putN(t testing.TB, ob outbox.Outbox, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	batch := make([]outbox.Delivery, 0, 500)
	for i := range n {
		id := fmt.Sprintf("%s-%05d", prefix, i)
		ids = append(ids, id)
		batch = append(batch, outbox.Delivery{ID: id, Destination: "sendertest", Topic: "job:done", Body: []byte(`{"n":` + fmt.Sprint(i) + `}`)})
		if len(batch) == cap(batch) || i == n-1 {
			if err := ob.Put(context.Background(), batch...); err != nil {
				t.Fatalf("Put: %v", err)
			}
			batch = batch[:0]
		}
	}
	return ids
}

// waitDelivered waits until the receiver got every id and returns how
// many requests each id got.
func waitDelivered(t *testing.T, rcv *sendertest.Receiver, ids []string, timeout time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := map[string]int{}
		for _, d := range rcv.Deliveries() {
			if d.Status/100 == 2 {
				got[d.ID]++
			}
		}
		missing := 0
		for _, id := range ids {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries never arrived", missing, len(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scale returns n, or a tenth of it under the race detector.
func scale(n int) int {
	if raceEnabled {
		return n / 10
	}
	return n
}

func TestFleetSharesWork(t *testing.T) {
	n := scale(10000)
	s := natstest.Start(t, nil)
	rcv := sendertest.NewReceiver(t, nil)
	o := fleetOpts{cfg: freshConfig(), workers: 16, leaseTTL: 30 * time.Second}
	ws := startFleet(t, s.ClientURL(), rcv, o, 3)
	ids := putN(t, ws[0].ob, "fleet", n)
	got := waitDelivered(t, rcv, ids, 2*time.Minute)
	for _, id := range ids {
		if got[id] != 1 {
			t.Errorf("%s delivered %d times, want once", id, got[id])
		}
	}
	// A worker counts a delivery once its ack is settled, which can come a
	// moment after the receiver saw the request: wait for the counts.
	var total int64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		total = 0
		for _, w := range ws {
			total += w.metrics.delivered.Load()
		}
		if total >= int64(n) || time.Now().After(deadline) {
			break
		}
	}
	for i, w := range ws {
		k := w.metrics.delivered.Load()
		t.Logf("worker %d delivered %d", i, k)
		if k == 0 {
			t.Errorf("worker %d delivered nothing", i)
		}
	}
	if total != int64(n) {
		t.Errorf("workers delivered %d in all, want %d", total, n)
	}
	waitStats(t, ws[1].ob, outbox.Stats{})
}

// waitStats waits until ob's Stats (which other processes' changes reach
// within milliseconds) equal want.
func waitStats(t *testing.T, ob outbox.Outbox, want outbox.Stats) {
	t.Helper()
	var s outbox.Stats
	for range 200 {
		var err error
		if s, err = ob.(outbox.Admin).Stats(context.Background()); err == nil && s == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("Stats = %+v, want %+v", s, want)
}

func TestWorkerKilled(t *testing.T) {
	n := scale(3000)
	s := natstest.Start(t, nil)
	rcv := sendertest.NewReceiver(t, nil, sendertest.Delay(5*time.Millisecond))
	o := fleetOpts{cfg: freshConfig(), workers: 16, leaseTTL: 2 * time.Second}
	ws := startFleet(t, s.ClientURL(), rcv, o, 3)
	ids := putN(t, ws[0].ob, "kill", n)
	// Kill the first worker to have delivered a twentieth, whichever it is
	// (a loaded machine may give one worker no share at all): its
	// connection goes away with its leases unsettled.
	victim, deadline := -1, time.Now().Add(2*time.Minute)
	for victim < 0 {
		for i, w := range ws {
			if w.metrics.delivered.Load() >= int64(n/20) {
				victim = i
				break
			}
		}
		if victim < 0 && time.Now().After(deadline) {
			t.Fatalf("no worker delivered %d in two minutes", n/20)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ws[victim].nc.Close()
	survivor := ws[(victim+1)%len(ws)]
	leased := 0
	if st, err := survivor.ob.Stats(context.Background()); err == nil {
		leased = st.Leased
	}
	ws[victim].stop()
	t.Logf("worker %d killed after %d deliveries; %d leases outstanding", victim, ws[victim].metrics.delivered.Load(), leased)
	got := waitDelivered(t, rcv, ids, 2*time.Minute)
	t.Logf("all %d delivered; %d sent twice (in flight when the worker died)", n, resent(got, ids))
	waitStats(t, survivor.ob, outbox.Stats{})
}

func TestServerRestart(t *testing.T) {
	n := scale(3000)
	dir := t.TempDir()
	s := natstest.Start(t, &server.Options{StoreDir: dir})
	p := natstest.Port(s)
	rcv := sendertest.NewReceiver(t, nil, sendertest.Delay(2*time.Millisecond))
	o := fleetOpts{cfg: freshConfig(), workers: 16, leaseTTL: 2 * time.Second}
	ws := startFleet(t, s.ClientURL(), rcv, o, 3)
	ids := putN(t, ws[0].ob, "restart", n)
	for len(rcv.Deliveries()) < n/4 {
		time.Sleep(5 * time.Millisecond)
	}
	s.Shutdown()
	s.WaitForShutdown()
	t.Logf("server stopped after %d requests", len(rcv.Deliveries()))
	s = natstest.Start(t, &server.Options{StoreDir: dir, Port: p})
	got := waitDelivered(t, rcv, ids, 2*time.Minute)
	t.Logf("all %d delivered after the restart; %d sent twice", n, resent(got, ids))
	waitStats(t, ws[0].ob, outbox.Stats{})
	// More work after the restart flows too.
	more := putN(t, ws[1].ob, "after", 100)
	waitDelivered(t, rcv, more, time.Minute)
}

func TestDeadLettersAndReplay(t *testing.T) {
	s := natstest.Start(t, nil)
	var healthy atomic.Bool
	rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if healthy.Load() {
			return 0, nil, nil
		}
		return 503, nil, nil
	}))
	cfg := freshConfig()
	o := fleetOpts{cfg: cfg, workers: 4, leaseTTL: 10 * time.Second,
		schedule: outbox.Schedule{Delays: []time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond}, Jitter: -1},
		breaker:  outbox.Breaker{Failures: -1}}
	w1 := startWorker(t, s.ClientURL(), rcv, o)
	w2 := startWorker(t, s.ClientURL(), rcv, o)
	ids := putN(t, w1.ob, "dead", 20)
	waitStats(t, w2.ob, outbox.Stats{Dead: 20})
	dl, err := w2.ob.DeadLetters(context.Background(), outbox.DeadLetterQuery{})
	if err != nil || len(dl) != 20 {
		t.Fatalf("DeadLetters = %d, %v; want 20", len(dl), err)
	}
	if dl[0].ID != ids[0] || dl[0].Attempts != 3 || dl[0].Reason == "" {
		t.Errorf("first dead letter %+v", dl[0])
	}
	h, err := w1.ob.History(context.Background(), ids[0])
	if err != nil || len(h) != 3 || h[2].Status != 503 {
		t.Errorf("History = %+v, %v; want 3 attempts ending in 503", h, err)
	}
	// Purge two, replay the rest once the receiver is healthy again.
	if n, err := w1.ob.Purge(context.Background(), outbox.Selector{IDs: ids[:2]}); err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	healthy.Store(true)
	if n, err := w2.ob.Replay(context.Background(), outbox.Selector{Destination: "sendertest"}); err != nil || n != 18 {
		t.Fatalf("Replay = %d, %v; want 18", n, err)
	}
	waitDelivered(t, rcv, ids[2:], time.Minute)
	waitStats(t, w1.ob, outbox.Stats{})
	if _, err := w1.ob.History(context.Background(), ids[0]); !errors.Is(err, outbox.ErrNotFound) {
		t.Errorf("History of a purged dead letter: %v", err)
	}
}

func TestOpenIdempotentAndInvalid(t *testing.T) {
	js := jetStream(t)
	cfg := freshConfig()
	a := open(t, js, cfg)
	putN(t, a, "x", 10)
	b := open(t, js, cfg) // a second Open of the same stream loads its records
	waitStats(t, b, outbox.Stats{Pending: 10})
	info, err := js.Stream(context.Background(), cfg.Stream)
	if err != nil || info.CachedInfo().Config.MaxMsgsPerSubject != 1 {
		t.Fatalf("stream: %v", err)
	}
	for _, bad := range []natsstore.Config{
		{Stream: "a.b"}, {Subject: "x.*"}, {Subject: "x..y"}, {Subject: "x\x00y"}, {Subject: "x\x7fy"}, {Subject: "x\xffy"}, {Replicas: 7},
		{DuplicateWindow: time.Millisecond}, {Storage: jetstream.StorageType(9)},
	} {
		if _, err := natsstore.Open(context.Background(), js, bad); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Open(%+v): %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := natsstore.Open(context.Background(), nil, cfg); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("Open(nil): %v", err)
	}
	big := outbox.Delivery{ID: "big", Destination: "d", Body: make([]byte, 2<<20)}
	if err := a.Put(context.Background(), big); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("Put of a body over max_payload: %v, want ErrInvalid", err)
	}
}
