package boltstore_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
)

// orderReceiver is an HTTPS receiver of deliveries whose bodies are
// {"key": k, "n": i}. It fails some requests (503, or a slow 500), and
// records, per key, the n of each request in arrival order and of each
// success; it flags a request that arrives while another of its key is in
// flight, or one whose n is not the next its key is owed.
type orderReceiver struct {
	srv *httptest.Server

	mu        sync.Mutex
	requests  int
	inFlight  map[string]bool
	succeeded map[string][]int // key → n of each 200, in arrival order
	order     []string         // the key of each 200, in arrival order
	failures  int
	problems  []string
}

func newOrderReceiver(t *testing.T) *orderReceiver {
	r := &orderReceiver{inFlight: map[string]bool{}, succeeded: map[string][]int{}}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *orderReceiver) serve(w http.ResponseWriter, req *http.Request) {
	var m struct {
		Key string `json:"key"`
		N   int    `json:"n"`
	}
	if err := json.NewDecoder(req.Body).Decode(&m); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.requests++
	n := r.requests
	if r.inFlight[m.Key] {
		r.problems = append(r.problems, fmt.Sprintf("%s/%d arrived while another of its key was in flight", m.Key, m.N))
	}
	if want := len(r.succeeded[m.Key]); m.N != want {
		r.problems = append(r.problems, fmt.Sprintf("%s/%d arrived when %s/%d was owed", m.Key, m.N, m.Key, want))
	}
	r.inFlight[m.Key] = true
	r.mu.Unlock()
	status := http.StatusOK
	switch {
	case n%3 == 1: // a third of the requests fail at once
		status = http.StatusServiceUnavailable
	case n%7 == 2: // and some after a while
		time.Sleep(5 * time.Millisecond)
		status = http.StatusInternalServerError
	case n%5 == 0:
		time.Sleep(2 * time.Millisecond)
	}
	r.mu.Lock()
	delete(r.inFlight, m.Key)
	if status == http.StatusOK {
		r.succeeded[m.Key] = append(r.succeeded[m.Key], m.N)
		r.order = append(r.order, m.Key)
	} else {
		r.failures++
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

// sender returns a Sender that trusts the receiver and makes one request
// per attempt, so that the queue's schedule does the retries.
func (r *orderReceiver) sender() *sender.Sender {
	pool := x509.NewCertPool()
	pool.AddCert(r.srv.Certificate())
	return &sender.Sender{
		TLS:           &tls.Config{RootCAs: pool},
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		Retry:         sender.RetryPolicy{MaxAttempts: 1},
	}
}

func (r *orderReceiver) successes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.order)
}

// orderedQueue returns a Queue over s delivering to r, ordered, with a
// fast schedule.
func orderedQueue(s outbox.Outbox, r *orderReceiver) *outbox.Queue {
	delays := []time.Duration{0}
	for range 40 {
		delays = append(delays, 10*time.Millisecond)
	}
	return &outbox.Queue{
		Outbox: s, Sender: r.sender(), Workers: 8, PerDestination: 8,
		Destinations: []sender.Destination{{Name: "ordered", URL: r.srv.URL, Ordered: true}},
		Schedule:     outbox.Schedule{Delays: delays},
		Breaker:      outbox.Breaker{Failures: 1 << 20},
		Poll:         5 * time.Millisecond,
	}
}

// TestOrderedQueueRestart enqueues deliveries of several keys to an
// ordered destination whose receiver fails a third of the requests and
// more, stops the queue and closes the bbolt file mid-run, reopens it and
// finishes: per key, the receiver saw one request at a time, the bodies
// in enqueue order, each delivered once; different keys interleave.
func TestOrderedQueueRestart(t *testing.T) {
	rcv := newOrderReceiver(t)
	s, path := open(t)
	const keys, perKey = 5, 24
	q := orderedQueue(s, rcv)
	for i := range perKey {
		for k := range keys {
			key := fmt.Sprint("k", k)
			body := fmt.Sprintf(`{"key":%q,"n":%d}`, key, i)
			// Ids that sort against the enqueue order, so that no store
			// keeps the order by accident of its id index.
			id := fmt.Sprintf("%s-%03d", key, perKey-i)
			if _, err := q.Enqueue(ctx, "ordered", sender.Message{ID: id, Body: []byte(body), PartitionKey: key}); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func(q *outbox.Queue, until func() bool) {
		stop := queuetest.Start(q)
		queuetest.WaitFor(t, 60*time.Second, "deliveries", until)
		if shut, err := stop(10 * time.Second); shut != nil || err != nil {
			t.Fatalf("Shutdown: %v; Run: %v", shut, err)
		}
	}
	run(q, func() bool { return rcv.successes() >= keys*perKey/3 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mid := rcv.successes()
	s2, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	if st, _ := s2.Stats(ctx); st.Pending != keys*perKey-mid {
		t.Fatalf("after reopening, %d pending, want %d", st.Pending, keys*perKey-mid)
	}
	run(orderedQueue(s2, rcv), func() bool {
		st, _ := s2.Stats(ctx)
		return st.Pending == 0
	})
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, p := range rcv.problems {
		t.Error(p)
	}
	for k := range keys {
		key := fmt.Sprint("k", k)
		if got := rcv.succeeded[key]; len(got) != perKey || !slices.IsSorted(got) || got[perKey-1] != perKey-1 {
			t.Errorf("%s delivered as %v, want 0 to %d once each, in order", key, got, perKey-1)
		}
	}
	switches := 0
	for i := 1; i < len(rcv.order); i++ {
		if rcv.order[i] != rcv.order[i-1] {
			switches++
		}
	}
	if switches < keys*perKey/4 {
		t.Errorf("the keys took turns only %d times in %d deliveries: they did not go in parallel", switches, len(rcv.order))
	}
	if st, _ := s2.Stats(ctx); st.Dead != 0 {
		t.Errorf("%d dead letters", st.Dead)
	}
	t.Logf("%d delivered after %d failed requests; %d before the restart", len(rcv.order), rcv.failures, mid)
}

// TestOrderReopen: the lines of a bbolt file survive Close and Open, a
// lease dying with the store included: the head comes back, not the next.
func TestOrderReopen(t *testing.T) {
	s, path := open(t)
	var ds []outbox.Delivery
	for i := range 3 {
		ds = append(ds, outbox.Delivery{ID: fmt.Sprint("a", 3-i), Destination: "d", PartitionKey: "A", Body: []byte("{}")})
	}
	must(t, s.Put(ctx, ds...))
	must(t, s.Put(ctx, outbox.Delivery{ID: "b", Destination: "d", PartitionKey: "B", Body: []byte("{}")}))
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now()})
	must(t, err)
	if len(ls) != 2 {
		t.Fatalf("leased %d, want the two heads", len(ls))
	}
	must(t, s.Close())
	s, err = boltstore.Open(path, nil)
	must(t, err)
	t.Cleanup(func() { _ = s.Close() })
	if st, _ := s.Stats(ctx); st.Pending != 4 {
		t.Fatalf("after reopening, %d pending, want 4", st.Pending)
	}
	for _, want := range []string{"a3", "a2", "a1"} {
		ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now(), Allow: func(string) int { return 10 }})
		must(t, err)
		var got []string
		for _, l := range ls {
			if l.PartitionKey == "A" {
				got = append(got, l.ID)
			}
		}
		if !slices.Equal(got, []string{want}) {
			t.Fatalf("leased %v of line A, want [%s]", got, want)
		}
		for _, l := range ls {
			if l.PartitionKey == "A" {
				must(t, s.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}})[0])
			} else {
				must(t, s.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.Released}})[0])
			}
		}
	}
}

// TestOrderOlderFile: a format 3 file of a build before ordering has no
// line buckets: a read-only Open reads it, and Open adds them.
func TestOrderOlderFile(t *testing.T) {
	path := filled(t, 3)
	tamper(t, path, func(tx *bolt.Tx) error {
		return errors.Join(tx.DeleteBucket([]byte("held")), tx.DeleteBucket([]byte("heads")))
	})
	ro, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	must(t, err)
	if st, _ := ro.Stats(ctx); st.Pending != 3 {
		t.Errorf("read-only: %d pending, want 3", st.Pending)
	}
	must(t, ro.Close())
	s, err := boltstore.Open(path, nil)
	must(t, err)
	defer s.Close()
	must(t, s.Put(ctx, outbox.Delivery{ID: "k1", Destination: "d", PartitionKey: "K", Body: []byte("{}")},
		outbox.Delivery{ID: "k2", Destination: "d", PartitionKey: "K", Body: []byte("{}")}))
	if st, _ := s.Stats(ctx); st.Pending != 5 {
		t.Errorf("%d pending, want 5", st.Pending)
	}
}

// TestOrderDamaged: Open refuses a file whose lines disagree with their
// deliveries, rather than lease out of order or lose a held delivery.
func TestOrderDamaged(t *testing.T) {
	mk := func(t *testing.T) string {
		s, path := open(t)
		must(t, s.Put(ctx, outbox.Delivery{ID: "k1", Destination: "d", PartitionKey: "K", Body: []byte("{}")},
			outbox.Delivery{ID: "k2", Destination: "d", PartitionKey: "K", Body: []byte("{}")}))
		must(t, s.Close())
		return path
	}
	for name, f := range map[string]func(tx *bolt.Tx) error{
		"head gone": func(tx *bolt.Tx) error { return tx.Bucket([]byte("heads")).Delete([]byte("d\x00K")) },
		"head names another": func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("heads")).Put([]byte("d\x00K"), []byte("k2"))
		},
		"a stray head": func(tx *bolt.Tx) error { return tx.Bucket([]byte("heads")).Put([]byte("d\x00Z"), []byte("k1")) },
		"held entry gone": func(tx *bolt.Tx) error {
			c := tx.Bucket([]byte("held")).Cursor()
			c.First()
			return c.Delete()
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := mk(t)
			tamper(t, path, f)
			if _, err := boltstore.Open(path, nil); !errors.Is(err, outbox.ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
		})
	}
}
