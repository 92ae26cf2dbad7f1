package outbox_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// breakerRaceStore is a memory outbox whose Lease, once armed, holds its
// result until the Queue's breaker for "flaky" is open: a Lease whose
// Allow admitted the destination before the breaker opened, answering
// after it did.
type breakerRaceStore struct {
	outbox.Store
	q     *outbox.Queue
	armed atomic.Bool
}

func (s *breakerRaceStore) Lease(ctx context.Context, o outbox.LeaseOptions) ([]outbox.Leased, error) {
	ls, err := s.Store.Lease(ctx, o)
	if len(ls) > 0 && s.armed.CompareAndSwap(true, false) {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if st, _ := s.q.BreakerState("flaky"); st == outbox.BreakerOpen {
				break
			}
		}
	}
	return ls, err
}

// TestBreakerHoldsWhatALeaseBroughtLate: deliveries a Lease admitted before
// the destination's breaker opened, and brought back after, are given back
// unattempted rather than sent to the failing destination. (They were
// buffered and sent: TestBreakerDefers saw a fourth request now and then.)
func TestBreakerHoldsWhatALeaseBroughtLate(t *testing.T) {
	release := make(chan struct{})
	var requests atomic.Int32
	flaky := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if requests.Add(1) <= 2 {
			<-release // the first two wait for the test
		}
		return http.StatusServiceUnavailable, nil, nil
	}))
	store := &breakerRaceStore{Store: outbox.NewMemory()}
	q := &outbox.Queue{
		Outbox: store, Sender: flaky.Sender(), Workers: 4, PerDestination: 2,
		Schedule:     outbox.Schedule{Delays: []time.Duration{0, time.Hour}, Jitter: -1},
		Breaker:      outbox.Breaker{Failures: 1, Cooldown: time.Hour},
		Destinations: []sender.Destination{{Name: "flaky", URL: flaky.URL()}},
		Poll:         5 * time.Millisecond,
	}
	store.q = q
	q.Sender.Retry.MaxAttempts = 1
	enqueue := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := q.Enqueue(ctx, "flaky", sender.Message{ID: fmt.Sprintf("f%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	enqueue(0, 2)
	queuetest.Run(t, q)
	// Two attempts in flight, held by the receiver, and none buffered:
	// the destination has room for two more.
	queuetest.WaitFor(t, 10*time.Second, "two requests held", func() bool { return requests.Load() == 2 })
	store.armed.Store(true) // the next Lease that brings one waits for the breaker
	enqueue(2, 5)           // and Enqueue wakes the leasing loop for it
	time.Sleep(50 * time.Millisecond)
	close(release) // both fail: the breaker opens at the first
	queuetest.WaitFor(t, 10*time.Second, "the breaker to open", func() bool {
		s, _ := q.BreakerState("flaky")
		return s == outbox.BreakerOpen
	})
	time.Sleep(100 * time.Millisecond) // time for a late delivery to be sent, if it is
	if n := requests.Load(); n != 2 {
		t.Errorf("flaky received %d requests, want the 2 made before its breaker opened", n)
	}
}
