package natsevents

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/internal/natstest"
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

// Events are queued by the subscription's callback, never dropped, and
// taken in order.
func TestQueueKeepsOrder(t *testing.T) {
	p := &puller{posted: make(chan struct{}, 1)}
	for i := range 1000 {
		p.post(&nats.Msg{Subject: strconv.Itoa(i), Reply: ackPrefix + "S.C.1." + strconv.Itoa(i) + ".1.0.0"})
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

// A user who may publish only on _INBOX.> floods a worker's inbox while
// every handler is busy: the queue keeps a few of its messages, never the
// flood. (It kept them all, body and all: memory grew with what the user
// sent, 64 KiB a message here, until the process died.) Statuses of the
// server are few per request and have no body; events are never dropped.
func TestInboxFloodBounded(t *testing.T) {
	s := natstest.Start(t, &server.Options{Users: []*server.User{
		{Username: "w", Password: "p"},
		{Username: "a", Password: "p", Permissions: &server.Permissions{
			Publish: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
		}},
	}})
	connect := func(user string) *nats.Conn {
		nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(user, "p"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	worker, attacker := connect("w"), connect("a")
	p := &puller{c: &settings{}, nc: worker, inbox: worker.NewInbox(), room: 2, posted: make(chan struct{}, 1)}
	sub, err := worker.Subscribe(p.inbox+".*", p.post)
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Flush(); err != nil {
		t.Fatal(err)
	}
	const n = 300
	for range n {
		m := nats.NewMsg(p.inbox + ".1")
		m.Header.Set("Status", "408")
		m.Data = make([]byte, 64<<10)
		if err := attacker.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := attacker.Flush(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if got, _ := sub.Delivered(); got == n {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the flood never arrived")
		}
	}
	if q := p.queued(); q > maxQueuedStatuses {
		t.Errorf("%d forged messages of 64 KiB queued while every handler was busy; want at most %d", q, maxQueuedStatuses)
	}
}
