package outbox_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/flaky"
	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// Against a real HTTPS receiver that fails 40 % of requests (503, 429, 500,
// dropped connections) and answers 5 % after 2 s, every delivery arrives,
// once per webhook-id, and no worker ever sleeps through a retry wait: the
// Sender makes one request per attempt (in-process retries only on the
// last attempt of the schedule, which these deliveries never reach), and
// failed attempts wait in the outbox. The relay's settings: 64 workers, a
// Sender allowing 2 attempts; a schedule as long as the default one, ten
// times quicker, to keep the test short (the real one is measured by
// cmd/herald's TestRelayFlakyReceiver3000).
func TestQueueFlakyReceiverDeliversAll(t *testing.T) {
	const n = 400
	rcv := flaky.Start(flaky.Mix{Fail: 0.4, Slow: 0.05, Delay: 2 * time.Second})
	t.Cleanup(rcv.Close)
	s := loopbackSender(t, rcv.Server())
	s.Retry = sender.RetryPolicy{MaxAttempts: 2}
	var retried atomic.Int64
	s.OnAttempt = func(a sender.Attempt) {
		if a.Number > 1 {
			retried.Add(1)
		}
	}
	delays := []time.Duration{0}
	for _, d := range []int{1, 1, 1, 2, 2, 3, 5, 8, 13, 21, 34, 60, 300, 1800, 7200, 18000, 36000, 36000} {
		delays = append(delays, time.Duration(d)*100*time.Millisecond)
	}
	ob := outbox.NewMemory()
	q := &outbox.Queue{
		Outbox: ob, Sender: s, Workers: 64, Schedule: outbox.Schedule{Delays: delays},
		Destinations: []sender.Destination{{Name: "flaky", URL: rcv.URL()}},
		Poll:         10 * time.Millisecond,
	}
	enqueue(t, q, "flaky", n)
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 2*time.Minute, "every delivery", func() bool { return stats(t, ob).Pending == 0 })
	got, took := rcv.Accepted()
	if len(got) != n {
		t.Errorf("%d ids accepted, want %d", len(got), n)
	}
	for id, c := range got {
		if c != 1 {
			t.Errorf("%s accepted %d times, want once", id, c)
		}
	}
	if s := stats(t, ob); s.Dead != 0 {
		t.Errorf("%d dead letters, want none", s.Dead)
	}
	if r := retried.Load(); r != 0 {
		t.Errorf("%d in-process retries: a worker slept through a retry wait", r)
	}
	t.Logf("%d deliveries in %s, %d requests", n, took.Round(time.Millisecond), rcv.Requests())
}

// A 429 with Retry-After pauses its destination as a whole: none of its
// other deliveries is tried until the pause ends, on any worker, while a
// healthy destination keeps delivering meanwhile; then the paused one
// delivers the rest.
func TestRetryAfterPausesDestination(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time // of busy's requests
	busy := sendertest.NewReceiver(t, nil, sendertest.Respond(func(n int) (int, http.Header, []byte) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		if n == 1 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"2"}}, nil
		}
		return 0, nil, nil
	}))
	good := sendertest.NewReceiver(t, nil)
	ob := outbox.NewMemory()
	q := &outbox.Queue{
		Outbox: ob, Sender: busy.Sender(), Workers: 8, PerDestination: 1,
		Destinations: []sender.Destination{{Name: "busy", URL: busy.URL()}, {Name: "good", URL: good.URL()}},
		Poll:         5 * time.Millisecond,
	}
	q.Sender.Retry = sender.RetryPolicy{MaxAttempts: 3}
	enqueue(t, q, "busy", 10)
	queuetest.Run(t, q)
	if _, err := busy.WaitFor(1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	enqueue(t, q, "good", 30)
	if _, err := good.WaitFor(30, 10*time.Second); err != nil {
		t.Fatalf("the healthy destination was held up: %v", err)
	}
	if n, during := len(busy.Deliveries()), time.Since(paused); during < 1500*time.Millisecond && n != 1 {
		t.Errorf("busy got %d requests within %s of its Retry-After: 2, want 1", n, during)
	}
	if _, err := busy.WaitFor(11, 20*time.Second); err != nil {
		t.Fatalf("the paused destination did not resume: %v", err)
	}
	mu.Lock()
	gap := at[1].Sub(at[0])
	mu.Unlock()
	if gap < 1900*time.Millisecond {
		t.Errorf("busy's second request came %s after the 429, want at least its Retry-After (2s)", gap)
	}
	queuetest.WaitFor(t, 10*time.Second, "the outbox to drain", func() bool { return stats(t, ob).Pending == 0 })
}
