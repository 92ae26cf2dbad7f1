package pgstore_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestOrderedDisabledThenEnabled: an ordered destination that answers 410
// is disabled with lines of keyed deliveries waiting behind their heads
// (held, in PostgreSQL's marks); once enabled through the admin handler,
// every delivery arrives, each line in order. The disable gives back the
// buffered heads and the enable must find the lines they lead.
func TestOrderedDisabledThenEnabled(t *testing.T) {
	ob := open(t, newPool(t), nil)
	var healthy atomic.Bool
	rcv := sendertest.NewReceiver(t, nil, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if healthy.Load() {
			return 0, nil, nil
		}
		return http.StatusGone, nil, nil
	}))
	var disabled atomic.Bool
	q := &outbox.Queue{Outbox: ob, Sender: rcv.Sender(), Workers: 4, Poll: 10 * time.Millisecond,
		Destinations: []sender.Destination{{Name: "o", URL: rcv.URL(), Ordered: true}},
		OnDisable:    func(string, string) { disabled.Store(true) }}
	q.Sender.Retry.MaxAttempts = 1
	const keys, perKey = 3, 6
	now := time.Now()
	for i := range perKey {
		for k := range keys {
			if err := ob.Put(ctx, outbox.Delivery{ID: fmt.Sprintf("k%d-%d", k, i), Destination: "o",
				PartitionKey: fmt.Sprint("k", k), Body: []byte("{}"), Due: now, Created: now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 30*time.Second, "the 410 to disable o", disabled.Load)
	time.Sleep(100 * time.Millisecond) // ten polls: nothing more may go out
	if n := len(rcv.Deliveries()); n > keys {
		t.Fatalf("the disabled destination got %d requests, want at most the %d heads", n, keys)
	}

	healthy.Store(true)
	admin := httptest.NewServer(outbox.AdminHandler(ob.(outbox.Admin)))
	defer admin.Close()
	res, err := http.Post(admin.URL+"/destinations/enable", "application/json", strings.NewReader(`{"destination":"o"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("enable: status %d", res.StatusCode)
	}
	queuetest.WaitFor(t, 30*time.Second, "every held delivery", func() bool {
		st, err := ob.(outbox.Admin).Stats(ctx)
		return err == nil && st.Pending == 0 && st.Leased == 0
	})
	next := map[string]int{}
	for _, d := range rcv.Deliveries() {
		if d.Status >= 300 { // a head answered 410, sent again once enabled
			continue
		}
		var k, i int
		if _, err := fmt.Sscanf(d.ID, "k%d-%d", &k, &i); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprint("k", k)
		if i != next[key] {
			t.Errorf("%s arrived after %s-%d: out of order", d.ID, key, next[key]-1)
		}
		next[key] = i + 1
	}
	for k := range keys {
		if n := next[fmt.Sprint("k", k)]; n != perKey {
			t.Errorf("line k%d: %d of %d delivered", k, n, perKey)
		}
	}
}
