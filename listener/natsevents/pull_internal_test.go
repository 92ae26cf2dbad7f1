package natsevents

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The end of an earlier pull request, read late (every handler was busy),
// does not end the request in flight: taken for it, the loop sent another
// request while that one was open, asked for more than it had room for,
// and a channel subscription dropped what did not fit.
func TestStaleStatusKeepsTheRequest(t *testing.T) {
	p := &puller{c: &settings{}, inbox: "_INBOX.x", req: 2, asked: 3, until: time.Now().Add(time.Minute),
		sem: make(chan struct{}, 1), freed: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	ended := func(req int) *nats.Msg {
		m := nats.NewMsg(p.inbox + "." + strconv.Itoa(req))
		m.Header.Set("Status", "408")
		return m
	}
	if err := p.take(context.Background(), ended(1), nil, &wg); err != nil || p.asked != 3 || p.until.IsZero() {
		t.Fatalf("an old request's 408: err %v, asked %d, until %v; want the request in flight kept", err, p.asked, p.until)
	}
	if err := p.take(context.Background(), ended(2), nil, &wg); err != nil || p.asked != 0 || !p.until.IsZero() {
		t.Fatalf("the 408 of the request in flight: err %v, asked %d; want it ended", err, p.asked)
	}
	wg.Wait()
}

// Messages are queued by the subscription's callback, never dropped, and
// taken in order.
func TestQueueKeepsOrder(t *testing.T) {
	p := &puller{posted: make(chan struct{}, 1)}
	for i := range 1000 {
		p.post(&nats.Msg{Subject: strconv.Itoa(i)})
	}
	for i := range 1000 {
		if m := p.pop(); m == nil || m.Subject != strconv.Itoa(i) {
			t.Fatalf("pop %d: %v", i, m)
		}
	}
	if m := p.pop(); m != nil {
		t.Fatalf("an empty queue gave %v", m)
	}
}
