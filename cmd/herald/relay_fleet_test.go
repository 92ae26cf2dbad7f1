package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/natsserver"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// fleetLoad is the crash test's load: clients that post events to the
// relays over HTTP and publish events to their JetStream intake, each
// event retried (on another relay) until it is acknowledged.
type fleetLoad struct {
	mu      sync.Mutex
	relays  []*relayProc
	sent    map[string]string // every event id tried -> its topic
	acked   map[string]string // the acknowledged ones
	failed  atomic.Int64      // attempts that got no acknowledgement
	next    atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
	client  *http.Client
	stopped bool
}

// relay returns relay i as it is now.
func (l *fleetLoad) relay(i int) *relayProc {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.relays[i%len(l.relays)]
}

// setRelay replaces relay i (restarted).
func (l *fleetLoad) setRelay(i int, p *relayProc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.relays[i] = p
}

// note records an attempt at, or the acknowledgement of, event id.
func (l *fleetLoad) note(id, topic string, acked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[id] = topic
	if acked {
		l.acked[id] = topic
	}
}

// count returns how many events were acknowledged.
func (l *fleetLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// done reports whether the load was told to stop.
func (l *fleetLoad) done() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// poster posts events h-N until stopped, each to the relays in turn from
// N's, until one answers 204.
func (l *fleetLoad) poster() {
	defer l.wg.Done()
	for !l.done() {
		n := int(l.next.Add(1))
		id := fmt.Sprintf("h-%05d", n)
		for try := n; !l.done(); try++ {
			l.note(id, "job:ready", false)
			if err := l.post(l.relay(try), id); err == nil {
				l.note(id, "job:ready", true)
				break
			}
			l.failed.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// post posts event id to p, signed with p's inbound secret, and returns
// nil on a 204.
func (l *fleetLoad) post(p *relayProc, id string) error {
	return postSigned(l.client, p, id, event(id, "job:ready"))
}

// publisher publishes events n-N to the relays' JetStream intake until
// stopped, each retried until JetStream acknowledges it.
func (l *fleetLoad) publisher(js jetstream.JetStream) {
	defer l.wg.Done()
	for n := 1; !l.done(); n++ {
		ev := &listener.Event{ID: fmt.Sprintf("n-%05d", n), Topic: "job:done", Payload: []byte(`{"via":"nats"}`)}
		for !l.done() {
			l.note(ev.ID, ev.Topic, false)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := natsevents.Publish(ctx, js, "fleet.events", ev)
			cancel()
			if err == nil {
				l.note(ev.ID, ev.Topic, true)
				break
			}
			l.failed.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond) // a steady trickle beside the HTTP load
	}
}

// TestRelayFleetSurvivesKills runs the fleet as separate processes: an
// external nats-server and three relays sharing its JetStream outbox and
// event intake, under load over HTTP and JetStream, while relays are
// SIGKILLed and restarted and the NATS server is SIGKILLed and restarted.
// Every acknowledged event arrives at the HTTPS receiver, verified, under
// its one webhook-id (a repeat only ever with the same id); the relays
// that stay up carry on while one is down.
func TestRelayFleetSurvivesKills(t *testing.T) {
	dir := t.TempDir()
	pass := "pw-" + randomHex(t, 12)
	ns := startNATSProc(t, t.TempDir(), freePort(t), pass)
	secret, rcv := relayReceiver(t, dir)
	args := []string{"--store", ns.url(), "--events-subject", "fleet.events", "--dest", rcv.URL(), "--secret", secret,
		"--cacert", "ca.pem", "--allow-private", "--lease-ttl", "4s", "--drain-timeout", "5s",
		"--schedule", "0s" + strings.Repeat(",250ms", 60)}
	var procs []*relayProc // every relay started, for the leak check
	start := func() *relayProc {
		p := startRelay(t, dir, nil, args...)
		procs = append(procs, p)
		return p
	}
	load := &fleetLoad{sent: map[string]string{}, acked: map[string]string{}, stop: make(chan struct{}),
		client: &http.Client{Timeout: 10 * time.Second}}
	for range 3 {
		load.relays = append(load.relays, start())
	}
	delivered := func() int { return len(idCount(okDeliveries(rcv))) }
	grows := func(what string, f func() int, n int) {
		t.Helper()
		from := f()
		eventually(t, func() string { return fmt.Sprintf("%s to grow by %d from %d (now %d)", what, n, from, f()) },
			func() bool { return f() >= from+n })
	}
	for range 3 {
		load.wg.Add(1)
		go load.poster()
	}
	_, js := natsserver.Connect(t, ns.url())
	load.wg.Add(1)
	go load.publisher(js)
	stopLoad := sync.OnceFunc(func() { close(load.stop); load.wg.Wait() })
	defer stopLoad()

	grows("acknowledged events", load.count, 60)
	grows("deliveries", delivered, 30)
	for _, i := range []int{0, 1} {
		// Relay i dies in the middle of requests and deliveries; the others
		// keep taking events and delivering while it is down.
		load.relay(i).kill(t)
		grows("acknowledged events with one relay down", load.count, 60)
		grows("deliveries with one relay down", delivered, 60)
		load.setRelay(i, start())
	}
	// The NATS server dies: the relays refuse events meanwhile (no 2xx),
	// and carry on once it is back.
	ns.kill(t)
	grows("refused attempts while NATS is down", func() int { return int(load.failed.Load()) }, 5)
	ns.start(t)
	grows("acknowledged events after the NATS restart", load.count, 60)
	grows("deliveries after the NATS restart", delivered, 60)
	load.relay(2).kill(t)
	load.setRelay(2, start())
	grows("acknowledged events after the last kill", load.count, 30)
	stopLoad()

	load.mu.Lock()
	acked, sent := load.acked, load.sent
	load.mu.Unlock()
	wantIDs := map[string]string{} // webhook-id -> event id, of every event tried
	for id, topic := range sent {
		wantIDs[listener.DeliveryID(&listener.Event{ID: id, Topic: topic}, "default")] = id
	}
	missing := func() []string {
		got := idCount(okDeliveries(rcv))
		var out []string
		for id, topic := range acked {
			if got[listener.DeliveryID(&listener.Event{ID: id, Topic: topic}, "default")] == 0 {
				out = append(out, id)
			}
		}
		return out
	}
	eventually(t, func() string { return fmt.Sprintf("acknowledged events never delivered: %v", missing()) },
		func() bool { return len(missing()) == 0 })
	for i := range 3 {
		p := load.relay(i)
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("relay %d exited by itself: %v\n%s", i, err, p.stderr())
		default:
		}
		if code := p.stop(t); code != 0 {
			t.Errorf("relay %d exit %d\n%s", i, code, p.stderr())
		}
	}

	repeats := 0
	for _, d := range rcv.Deliveries() {
		if d.Err != nil {
			t.Errorf("delivery %s failed verification: %v", d.ID, d.Err)
			continue
		}
		evID, ok := wantIDs[d.ID]
		if !ok || eventID(t, d.Body) != evID {
			t.Errorf("delivery %s carries event %s, not one of the events sent under that id", d.ID, eventID(t, d.Body))
		}
	}
	for _, n := range idCount(okDeliveries(rcv)) {
		repeats += n - 1
	}
	t.Logf("%d events acknowledged (%d tried), %d delivered, %d repeated deliveries (same id), %d refused attempts, %d relay processes",
		len(acked), len(sent), delivered(), repeats, load.failed.Load(), len(procs))
	for _, p := range procs {
		noLeak(t, p.stderr(), pass, secret)
	}
}
