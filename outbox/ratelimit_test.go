package outbox_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// A destination limited to 10 deliveries a second receives them at that
// rate (within ±20 %, measured at the receiver over 3 s), across all the
// workers, while an unlimited destination of the same Queue runs at full
// speed: its 300 deliveries are all in before the limited one got 30.
func TestRateLimitPerDestination(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	limited := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		return 0, nil, nil
	}))
	free := sendertest.NewReceiver(t, nil)
	ob := outbox.NewMemory()
	q := &outbox.Queue{
		Outbox: ob, Sender: limited.Sender(), Workers: 16,
		Destinations: []sender.Destination{
			{Name: "limited", URL: limited.URL(), Rate: 10, Burst: 1},
			{Name: "free", URL: free.URL()},
		},
	}
	enqueue(t, q, "limited", 40)
	enqueue(t, q, "free", 300)
	queuetest.Run(t, q)
	if _, err := free.WaitFor(300, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(limited.Deliveries()); n >= 30 {
		t.Errorf("the limited destination got %d deliveries while the free one got its 300: the limit slowed the free one", n)
	}
	if _, err := limited.WaitFor(31, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	rate := 30 / at[30].Sub(at[0]).Seconds()
	mu.Unlock()
	if rate < 8 || rate > 12 {
		t.Errorf("the limited destination received %.2f deliveries/s, want 10 ± 20 %%", rate)
	}
	t.Logf("limited: %.2f/s", rate)
}
