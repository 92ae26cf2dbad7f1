package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
	"github.com/heraldhq/herald/sender/sendertest"
)

// The harness of the crash and load tests (TestRelayFleetSurvivesKills,
// TestRelayPostgresCrash, TestRelayFlakyReceiver3000): relays that share
// one store, killed and restarted in place while clients post events to
// them, and the check that every acknowledged event arrived under its one
// delivery id.

// relaySet is a test's relays, started with the same arguments; one may be
// killed (SIGKILL) and started again in its place while clients post.
type relaySet struct {
	t         *testing.T
	dir       string
	env, args []string
	mu        sync.Mutex
	relays    []*relayProc
	started   []*relayProc // every process started, for the leak check
}

// startRelays starts n relays in dir with env and args.
func startRelays(t *testing.T, dir string, n int, env []string, args ...string) *relaySet {
	t.Helper()
	s := &relaySet{t: t, dir: dir, env: env, args: args}
	for range n {
		s.relays = append(s.relays, s.start())
	}
	return s
}

// start starts one more relay process.
func (s *relaySet) start() *relayProc {
	s.t.Helper()
	p := startRelay(s.t, s.dir, s.env, s.args...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(s.started, p)
	return p
}

// relay returns relay i (modulo their number) as it is now.
func (s *relaySet) relay(i int) *relayProc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.relays[i%len(s.relays)]
}

// restart starts a new relay in the place of relay i, once it was killed.
func (s *relaySet) restart(i int) {
	s.t.Helper()
	p := s.start()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.relays[i] = p
}

// crashLoad is the clients of a test: posters that post events to the
// relays over HTTP and, for a fleet, a publisher to its JetStream intake,
// each event retried (on the next relay) until it is acknowledged.
type crashLoad struct {
	relays *relaySet
	client *http.Client
	limit  int64 // the posters stop after event h-<limit>; zero: when halted
	// explain, when set, adds to the failure of waitDelivered what the
	// store holds for the missing events (event id -> delivery id).
	explain func(missing map[string]string) string
	start   time.Time

	mu     sync.Mutex
	sent   map[string]string // every event id tried -> its topic
	acked  map[string]string // the acknowledged ones
	ackBy  map[string]string // event id -> which relay acknowledged it, and when
	failed atomic.Int64      // attempts that got no acknowledgement
	next   atomic.Int64
	stop   chan struct{}
	halt   func()
	wg     sync.WaitGroup
}

// newCrashLoad returns the load on relays, halted when the test ends.
func newCrashLoad(t *testing.T, relays *relaySet) *crashLoad {
	l := &crashLoad{relays: relays, client: &http.Client{Timeout: 10 * time.Second},
		sent: map[string]string{}, acked: map[string]string{}, ackBy: map[string]string{}, stop: make(chan struct{}), start: time.Now()}
	l.halt = sync.OnceFunc(func() { close(l.stop); l.wg.Wait() })
	t.Cleanup(l.halt)
	return l
}

// note records an attempt at, or the acknowledgement of, event id by
// (a relay's URL, or the JetStream intake).
func (l *crashLoad) note(id, topic string, acked bool, by string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[id] = topic
	if acked {
		l.acked[id] = topic
		l.ackBy[id] = fmt.Sprintf("%s at %.1fs", by, time.Since(l.start).Seconds())
	}
}

// count returns how many events were acknowledged.
func (l *crashLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// done reports whether the load was told to stop.
func (l *crashLoad) done() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// post starts n posters. Each posts events h-N, signed with the relay's
// inbound secret, each to the relays in turn from N's until one answers
// 204, until the limit or the halt.
func (l *crashLoad) post(n int) {
	for range n {
		l.wg.Go(func() {
			for !l.done() {
				n := l.next.Add(1)
				if l.limit > 0 && n > l.limit {
					return
				}
				id := fmt.Sprintf("h-%05d", n)
				for try := int(n); !l.done(); try++ {
					l.note(id, "job:ready", false, "")
					p := l.relays.relay(try)
					if err := l.postTo(p, id); err == nil {
						l.note(id, "job:ready", true, p.url)
						break
					}
					l.failed.Add(1)
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
}

// publish starts a publisher of events n-N to the JetStream intake on
// subject until the halt, each retried until JetStream acknowledges it.
func (l *crashLoad) publish(js jetstream.JetStream, subject string) {
	l.wg.Go(func() {
		for n := 1; !l.done(); n++ {
			ev := &listener.Event{ID: fmt.Sprintf("n-%05d", n), Topic: "job:done", Payload: []byte(`{"via":"nats"}`)}
			for !l.done() {
				l.note(ev.ID, ev.Topic, false, "")
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := natsevents.Publish(ctx, js, subject, ev)
				cancel()
				if err == nil {
					l.note(ev.ID, ev.Topic, true, "jetstream")
					break
				}
				l.failed.Add(1)
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(10 * time.Millisecond) // a steady trickle beside the HTTP load
		}
	})
}

// deliveryIDs returns the webhook-id of every event in events (event id ->
// topic) on the relays' destination "default", mapped to the event's id.
func deliveryIDs(events map[string]string) map[string]string {
	ids := map[string]string{}
	for id, topic := range events {
		ids[listener.DeliveryID(&listener.Event{ID: id, Topic: topic}, "default")] = id
	}
	return ids
}

// waitDelivered waits, once the load has halted, until every acknowledged
// event has reached rcv (verified, 2xx) under its delivery id.
func (l *crashLoad) waitDelivered(t *testing.T, rcv *sendertest.Receiver) {
	t.Helper()
	l.mu.Lock()
	acked := deliveryIDs(l.acked)
	l.mu.Unlock()
	missing := func() map[string]string {
		got := idCount(okDeliveries(rcv))
		out := map[string]string{}
		for did, id := range acked {
			if got[did] == 0 {
				out[id] = did
			}
		}
		return out
	}
	eventually(t, func() string {
		m := missing()
		var b strings.Builder
		fmt.Fprintf(&b, "acknowledged events never delivered: %v", slices.Sorted(maps.Keys(m)))
		l.mu.Lock()
		for _, id := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(&b, "\n  %s (delivery %s) acknowledged by %s", id, m[id], l.ackBy[id])
		}
		l.mu.Unlock()
		for _, d := range rcv.Deliveries() {
			if id, ok := acked[d.ID]; ok && m[id] != "" {
				fmt.Fprintf(&b, "\n  the receiver got %s (event %s): status %d, err %v", d.ID, id, d.Status, d.Err)
			}
		}
		if l.explain != nil {
			b.WriteString(l.explain(m))
		}
		return b.String()
	}, func() bool { return len(missing()) == 0 })
}

// checkDeliveries fails the test for every request rcv got that does not
// verify, or that carries another event than the one sent under its
// webhook-id, and returns how many verified 2xx deliveries repeated an id
// (at least once delivery: the same id, never another).
func (l *crashLoad) checkDeliveries(t *testing.T, rcv *sendertest.Receiver) (repeats int) {
	t.Helper()
	l.mu.Lock()
	sent := deliveryIDs(l.sent)
	l.mu.Unlock()
	for _, d := range rcv.Deliveries() {
		if d.Err != nil {
			t.Errorf("delivery %s failed verification: %v", d.ID, d.Err)
			continue
		}
		evID, ok := sent[d.ID]
		if !ok || eventID(t, d.Body) != evID {
			t.Errorf("delivery %s carries event %s, not one of the events sent under that id", d.ID, eventID(t, d.Body))
		}
	}
	for _, n := range idCount(okDeliveries(rcv)) {
		repeats += n - 1
	}
	return repeats
}

// postTo posts event id to p, signed with p's inbound secret, and returns
// nil on a 204.
func (l *crashLoad) postTo(p *relayProc, id string) error {
	body := event(id, "job:ready")
	req, err := http.NewRequest(http.MethodPost, p.url+"/events", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := p.in.Sign(req.Header, auth.Message{ID: id, Body: []byte(body)}); err != nil {
		return err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("relay answered %d", resp.StatusCode)
	}
	return nil
}
