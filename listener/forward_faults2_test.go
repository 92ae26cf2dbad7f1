package listener_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

func serveHTTP(t *testing.T, l *listener.Listener, ctx context.Context) (url string, done chan error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- l.Run(ctx, &listener.HTTPServer{NetListener: ln}) }()
	return "http://" + ln.Addr().String() + "/", done
}

func postJSON(url, body string) (int, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestForwardConcurrentSameEvent: the same event posted 32 times at once over real HTTP,
// forwarded to two destinations through a Queue over bbolt: all succeed and
// exactly two deliveries are stored, then delivered.
func TestForwardConcurrentSameEvent(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	a, b := twoDests(rcv)
	st := openBolt(t)
	q := &outbox.Queue{Outbox: st, Sender: rcv.Sender(), Destinations: []sender.Destination{a, b}, Poll: 10 * time.Millisecond}
	l := listener.New(listener.WithDedupe(time.Minute, 100))
	mustOn(t, l, "job:*", listener.Forward(q, a, b))
	ctx, cancel := context.WithCancel(context.Background())
	url, done := serveHTTP(t, l, ctx)
	body := `{"id":"evt_c","topic":"job:ready","payload":{}}`
	var wg sync.WaitGroup
	var bad atomic.Int32
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, err := postJSON(url, body); err != nil || code != http.StatusNoContent {
				t.Logf("post: %d %v", code, err)
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if bad.Load() != 0 {
		t.Fatalf("%d posts failed", bad.Load())
	}
	if s, _ := st.Stats(context.Background()); s.Pending != 2 {
		t.Fatalf("pending %d, want 2", s.Pending)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	defer rcancel()
	ran := make(chan error, 1)
	go func() { ran <- q.Run(rctx) }()
	if _, err := rcv.WaitFor(2, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	q.Shutdown(context.Background())
	<-ran
	if n := len(rcv.Deliveries()); n != 2 {
		t.Fatalf("%d deliveries", n)
	}
}

// TestForwardShutdownUnderLoad: the package doc's shutdown order while events keep arriving:
// every event acknowledged 2xx has both its deliveries either received or
// still in the bbolt file after a reopen.
func TestForwardShutdownUnderLoad(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil, sendertest.Delay(5*time.Millisecond))
	a, b := twoDests(rcv)
	path := filepath.Join(t.TempDir(), "outbox.db")
	st, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := &outbox.Queue{Outbox: st, Sender: rcv.Sender(), Destinations: []sender.Destination{a, b}, Poll: 10 * time.Millisecond, Workers: 4}
	l := listener.New(listener.WithDrainTimeout(5 * time.Second))
	mustOn(t, l, "job:*", listener.Forward(q, a, b))
	go q.Run(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	url, done := serveHTTP(t, l, ctx)

	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stopPosting := make(chan struct{})
	var n atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stopPosting:
					return
				default:
				}
				id := fmt.Sprintf("evt_%d_%d", w, n.Add(1))
				code, err := postJSON(url, fmt.Sprintf(`{"id":%q,"topic":"job:ready"}`, id))
				if err == nil && code/100 == 2 {
					mu.Lock()
					acked[id] = true
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	cancel() // 1, 2
	runErr := <-done
	close(stopPosting)
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := q.Shutdown(sctx); err != nil { // 3
		t.Fatal(err)
	}
	if err := st.Close(); err != nil { // 4
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, d := range rcv.Deliveries() {
		have[d.ID] = true
	}
	st2, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	ls, err := st2.Lease(context.Background(), outbox.LeaseOptions{Max: 1 << 20, TTL: time.Hour, Now: time.Now().Add(365 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ls {
		have[d.ID] = true
	}
	lost := 0
	for id := range acked {
		ev := &listener.Event{ID: id, Topic: "job:ready"}
		for _, dn := range []string{"a", "b"} {
			if !have[listener.DeliveryID(ev, dn)] {
				lost++
			}
		}
	}
	t.Logf("%d events acknowledged, %d received deliveries, %d pending after reopen", len(acked), len(rcv.Deliveries()), len(ls))
	if lost != 0 {
		t.Fatalf("%d deliveries of acknowledged events lost", lost)
	}
}

type validatedJob struct {
	JobID string `json:"jobId"`
}

func (j validatedJob) Validate() error {
	if j.JobID == "" {
		return errors.New("jobId required")
	}
	return nil
}

// TestPanickingFilterRunsNoHandler: when a typed route's filter panics,
// which payload checks apply is unknown, so Dispatch runs no handler and
// fails retryably. (It skipped the route, its payload check with it, and a
// Forward on "**" stored an event whose payload the route refuses.)
func TestPanickingFilterRunsNoHandler(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	dest := rcv.Destination(nil)
	mem := outbox.NewMemory()
	q := &outbox.Queue{Outbox: mem, Destinations: []sender.Destination{dest}}
	l := listener.New()
	var typedRan atomic.Bool
	if err := listener.Handle(l, "job:*", func(ctx context.Context, ev *listener.Event, j validatedJob) error {
		typedRan.Store(true)
		return nil
	}, func(ev *listener.Event) bool {
		var m map[string]int
		m[ev.ID]++ // a bug in a filter: panics
		return true
	}); err != nil {
		t.Fatal(err)
	}
	mustOn(t, l, "**", listener.Forward(q, dest))
	err := l.Dispatch(context.Background(), &listener.Event{ID: "evt_bad", Topic: "job:ready", Payload: []byte(`{"jobId":""}`)})
	t.Logf("dispatch: %v", err)
	s, _ := mem.(outbox.Admin).Stats(context.Background())
	if s.Pending != 0 {
		t.Fatalf("the typed route could not decide (its filter panicked), yet the event with a payload it refuses was forwarded: %d pending", s.Pending)
	}
}

// TestForwardHandlerFailsAfter: a handler that panics or fails after Forward committed makes
// the source redeliver; the redelivery stores nothing new.
func TestForwardHandlerFailsAfter(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	a, b := twoDests(rcv)
	st := openBolt(t)
	q := &outbox.Queue{Outbox: st, Destinations: []sender.Destination{a, b}}
	l := listener.New()
	mustOn(t, l, "job:*", listener.Forward(q, a))
	var calls atomic.Int32
	mustOn(t, l, "**", func(ctx context.Context, ev *listener.Event) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	})
	mustOn(t, l, "**", listener.Forward(q, b))
	h := &listener.HTTPHandler{Dispatcher: l}
	body := `{"id":"evt_p","topic":"job:ready"}`
	if w := post(h, jsonHeader(), body); w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", w.Code)
	}
	if w := post(h, jsonHeader(), body); w.Code != http.StatusNoContent {
		t.Fatalf("status %d", w.Code)
	}
	if s, _ := st.Stats(context.Background()); s.Pending != 2 {
		t.Fatalf("pending %d want 2", s.Pending)
	}
}

// TestForwardSizeLimits: an event id of 256 bytes and a topic of 255 bytes, over the
// HTTP intake, are stored and delivered through bbolt.
func TestForwardSizeLimits(t *testing.T) {
	rcv, _, q, l := forwarding(t, "**")
	id := strings.Repeat("é", 128) // 256 bytes
	topic := strings.Repeat("d", 127) + ":" + strings.Repeat("a", 127)
	w := post(&listener.HTTPHandler{Dispatcher: l}, jsonHeader(), fmt.Sprintf(`{"id":%q,"topic":%q,"partitionKey":%q}`, id, topic, strings.Repeat("k", 256)))
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	ds, err := rcv.WaitFor(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].ID != listener.DeliveryID(&listener.Event{ID: id, Topic: topic}, rcv.Destination(nil).Name) {
		t.Fatal("id")
	}
	q.Shutdown(context.Background())
}

// TestForwardRedeliveryAfterDelivered: once an event's delivery is
// acknowledged, the outbox forgets its id (Outbox.Put's contract), so a
// redelivery of the event is stored and sent again, under the same
// webhook-id, for the receiver to deduplicate, as the package doc says.
func TestForwardRedeliveryAfterDelivered(t *testing.T) {
	rcv, st, q, l := forwarding(t, "job:*")
	h := &listener.HTTPHandler{Dispatcher: l}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- q.Run(ctx) }()
	body := `{"id":"evt_r","topic":"job:ready"}`
	post(h, jsonHeader(), body)
	if _, err := rcv.WaitFor(1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if s, _ := st.Stats(context.Background()); s.Pending == 0 || time.Now().After(deadline) {
			break
		}
	}
	post(h, jsonHeader(), body) // the platform's retry: its 204 was lost
	time.Sleep(300 * time.Millisecond)
	q.Shutdown(context.Background())
	<-ran
	// As documented now: sent again, under the same webhook-id.
	ds := rcv.Deliveries()
	if len(ds) != 2 || ds[0].ID != ds[1].ID {
		t.Fatalf("receiver got %d requests for one event, want 2 under one id", len(ds))
	}
}
