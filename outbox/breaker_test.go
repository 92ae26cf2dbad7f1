package outbox_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// slowOnce is a Store whose Lease, once armed, takes a while (a slow disk,
// a GC pause, a busy database) the first time it returns deliveries.
type slowOnce struct {
	outbox.Store
	armed atomic.Bool
	delay time.Duration
}

func (s *slowOnce) Lease(ctx context.Context, o outbox.LeaseOptions) ([]outbox.Leased, error) {
	ls, err := s.Store.Lease(ctx, o)
	if len(ls) > 0 && s.armed.CompareAndSwap(true, false) {
		time.Sleep(s.delay)
	}
	return ls, err
}

// probed starts a Queue of one worker over ob whose delivery "only" to
// destination "d" (a receiver answering 503 until healthy is set) opens
// the breaker, with the extra destinations given; it returns the Queue,
// once the breaker is open, and the receiver.
func probed(t *testing.T, ob outbox.Outbox, ttl time.Duration, healthy *atomic.Bool, extra ...sender.Destination) (*outbox.Queue, *sendertest.Receiver) {
	t.Helper()
	rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if healthy.Load() {
			return 0, nil, nil
		}
		return http.StatusServiceUnavailable, nil, nil
	}))
	q := &outbox.Queue{
		Outbox: ob, Sender: rcv.Sender(), Workers: 1, LeaseTTL: ttl,
		Schedule:     outbox.Schedule{Delays: []time.Duration{0, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond}, Jitter: -1},
		Breaker:      outbox.Breaker{Failures: 1, Cooldown: 30 * time.Millisecond},
		Destinations: append([]sender.Destination{{Name: "d", URL: rcv.URL()}}, extra...),
		Poll:         5 * time.Millisecond,
	}
	q.Sender.Retry.MaxAttempts = 1
	if _, err := q.Enqueue(ctx, "d", sender.Message{ID: "only"}); err != nil {
		t.Fatal(err)
	}
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 5*time.Second, "the breaker to open", func() bool {
		s, _ := q.BreakerState("d")
		return s == outbox.BreakerOpen
	})
	return q, rcv
}

// waitSentAgain fails t unless ob ends empty: the delivery that opened the
// breaker was sent again.
func waitSentAgain(t *testing.T, q *outbox.Queue, ob outbox.Outbox, rcv *sendertest.Receiver) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); stats(t, ob).Pending != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			s, _ := q.BreakerState("d")
			t.Fatalf("the delivery was never sent again: %d requests, breaker %v, stats %+v", len(rcv.Deliveries()), s, stats(t, ob))
		}
	}
}

// TestBreakerProbeGivenBackStale: the breaker's half-open probe is leased
// but given back unattempted, stale by the time a worker picks it because
// one Lease call was slow. The destination leases another probe, and its
// delivery is sent once the receiver recovers. (It used to stay half-open
// with a probe counted in flight, leasing nothing, for the life of the
// process.)
func TestBreakerProbeGivenBackStale(t *testing.T) {
	var healthy atomic.Bool
	ttl := 200 * time.Millisecond
	ob := &slowOnce{Store: outbox.NewMemory(), delay: ttl/2 + 20*time.Millisecond}
	q, rcv := probed(t, ob, ttl, &healthy)
	healthy.Store(true)
	ob.armed.Store(true) // the Lease that takes the probe is slow, once
	waitSentAgain(t, q, ob, rcv)
}

// TestBreakerProbeGivenBackUnbuffered: the same through the disable path:
// the probe waits in the buffer (the one worker is busy with a slow
// destination), the destination is disabled in the store (by an operator,
// or another Queue sharing it), the reload gives the probe back, and after
// Enable the destination sends again.
func TestBreakerProbeGivenBackUnbuffered(t *testing.T) {
	var healthy atomic.Bool
	slow := sendertest.NewReceiver(t, nil, sendertest.Delay(400*time.Millisecond))
	ob := outbox.NewMemory()
	q, rcv := probed(t, ob, 10*time.Second, &healthy, sender.Destination{Name: "slow", URL: slow.URL()})
	healthy.Store(true)
	if _, err := q.Enqueue(ctx, "slow", sender.Message{ID: "slow-1"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // the worker is on slow-1; the probe waits in the buffer
	if err := ob.SetDestinationState(ctx, outbox.DestinationState{Destination: "d", Disabled: time.Now(), Reason: "operator"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a reload gives the buffered probe back
	if err := q.Enable(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	waitSentAgain(t, q, ob, rcv)
}
