package boltstore_test

import (
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

// TestQueueOutage: the receiver answers 500 for a stretch, then recovers;
// every delivery arrives, along a short schedule, through the breaker.
func TestQueueOutage(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	var failures atomic.Int64
	rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if down.Load() {
			failures.Add(1)
			return http.StatusInternalServerError, nil, nil
		}
		return 0, nil, nil
	}))
	s, _ := open(t)
	delays := []time.Duration{0}
	for range 30 {
		delays = append(delays, 20*time.Millisecond)
	}
	q := &outbox.Queue{
		Outbox: s, Sender: rcv.Sender(), Workers: 8, PerDestination: 8,
		Destinations: []sender.Destination{rcv.Destination(nil)},
		Schedule:     outbox.Schedule{Delays: delays},
		Breaker:      outbox.Breaker{Failures: 5, Cooldown: 20 * time.Millisecond, MaxCooldown: 40 * time.Millisecond},
		Poll:         5 * time.Millisecond,
	}
	q.Sender.Retry.MaxAttempts = 1
	const n = 200
	for i := range n {
		if _, err := q.Enqueue(ctx, "sendertest", sender.Message{ID: fmt.Sprintf("out-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "the outage to bite", func() bool { return failures.Load() >= 20 })
	time.Sleep(100 * time.Millisecond)
	down.Store(false)
	queuetest.WaitFor(t, 20*time.Second, "every delivery", func() bool {
		st, _ := s.Stats(ctx)
		return st.Pending == 0
	})
	ok := map[string]bool{}
	for _, d := range rcv.Deliveries() {
		if d.Status == http.StatusOK {
			ok[d.ID] = true
		}
	}
	if len(ok) != n {
		t.Errorf("%d of %d delivered", len(ok), n)
	}
	if st, _ := s.Stats(ctx); st.Dead != 0 {
		t.Errorf("%d dead letters, want none", st.Dead)
	}
	t.Logf("%d requests failed during the outage, %d in all", failures.Load(), len(rcv.Deliveries()))
}

// TestQueueGone: a destination answering 410 is disabled, in the file: its
// deliveries are held, none dead, while another destination gets all of
// its own; Enable resumes it once it is back, and every held delivery
// goes out, once.
func TestQueueGone(t *testing.T) {
	var gone atomic.Bool
	gone.Store(true)
	rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if gone.Load() {
			return http.StatusGone, nil, nil
		}
		return 0, nil, nil
	}))
	other := sendertest.NewReceiver(t, nil)
	s, _ := open(t)
	q := &outbox.Queue{
		Outbox: s, Sender: rcv.Sender(),
		Destinations: []sender.Destination{{Name: "gone", URL: rcv.URL()}, {Name: "other", URL: other.URL()}},
		Poll:         5 * time.Millisecond,
	}
	for i := range 10 {
		q.Enqueue(ctx, "gone", sender.Message{ID: fmt.Sprint("g", i)})
		q.Enqueue(ctx, "other", sender.Message{ID: fmt.Sprint("o", i)})
	}
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "gone disabled", func() bool {
		list, _ := s.DestinationStates(ctx)
		return len(list) == 1 && list[0].Destination == "gone" && !list[0].Disabled.IsZero() && list[0].Reason == "gone (410)"
	})
	if _, err := other.WaitFor(10, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	queuetest.WaitFor(t, 10*time.Second, "the gone deliveries held", func() bool {
		st, _ := s.Stats(ctx)
		return st.Dead == 0 && st.Pending == 10 && st.Leased == 0
	})
	called := len(rcv.Deliveries())
	if called < 1 || called > 10 {
		t.Errorf("gone was called %d times, want 1 to 10 (those in flight when it was disabled)", called)
	}

	gone.Store(false)
	if err := q.Enable(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	queuetest.WaitFor(t, 10*time.Second, "the held deliveries", func() bool {
		st, _ := s.Stats(ctx)
		return st == outbox.Stats{}
	})
	got := map[string]int{}
	for _, d := range rcv.Deliveries() {
		if d.Status == http.StatusOK {
			got[d.ID]++
		}
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if len(got) != 10 {
		t.Errorf("delivered after Enable: %v, want g0..g9 once each", got)
	}
	if list, _ := s.DestinationStates(ctx); len(list) != 0 {
		t.Errorf("states after Enable: %+v", list)
	}
}
