package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestRelayConfigOrdered: "ordered" in a --config destination orders it,
// and a store that cannot keep the order is refused before the relay
// starts.
func TestRelayConfigOrdered(t *testing.T) {
	d := destConfig{Name: "a", URL: "https://a.example/", Ordered: true,
		Secret: stringOrList{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	dest, err := d.destination(1)
	if err != nil || !dest.Ordered {
		t.Fatalf("destination = %+v, %v; want it ordered", dest, err)
	}
	dests := []sender.Destination{{Name: "plain"}, dest}
	if err := checkOrdered(dests, outbox.NewMemory()); err != nil {
		t.Errorf("over a store that keeps key order: %v", err)
	}
	err = checkOrdered(dests, struct{ outbox.Outbox }{outbox.NewMemory()})
	if err == nil || !strings.Contains(err.Error(), `"a" is ordered`) {
		t.Errorf("over a store that cannot keep key order: %v", err)
	}
	if err := checkOrdered(dests[:1], struct{ outbox.Outbox }{outbox.NewMemory()}); err != nil {
		t.Errorf("no ordered destination: %v", err)
	}
}

// TestRelayOrdered runs a relay with an ordered destination whose receiver
// fails every third request: the events of each partition key arrive in
// the order they were posted, each once.
func TestRelayOrdered(t *testing.T) { relayOrdered(t, "relay.db", 1) }

// orderedDestination starts a receiver that answers every third request
// 503 (and as opts script), and writes dir/relay.json with one ordered
// destination "o" to it; it returns the receiver and the environment of a
// relay run with --config relay.json --cacert ca.pem.
func orderedDestination(t *testing.T, dir string, opts ...sendertest.Option) (*sendertest.Receiver, []string) {
	t.Helper()
	everyThird := sendertest.Respond(func(n int) (int, http.Header, []byte) {
		if n%3 == 0 {
			return http.StatusServiceUnavailable, nil, nil
		}
		return 0, nil, nil
	})
	secret, rcv := relayReceiver(t, dir, append([]sendertest.Option{everyThird}, opts...)...)
	writeFile(t, dir, "relay.json", fmt.Sprintf(`{"destinations": [
  {"name": "o", "url": %q, "secret": "env:O_SECRET", "ordered": true}
]}`, rcv.URL()))
	return rcv, []string{"O_SECRET=" + secret}
}

// relayOrdered runs TestRelayOrdered with relays relays on store, the
// events posted to each in turn.
func relayOrdered(t *testing.T, store string, relays int) {
	dir := t.TempDir()
	rcv, env := orderedDestination(t, dir)
	ps := make([]*relayProc, relays)
	for i := range ps {
		ps[i] = startRelay(t, dir, env, "--store", store, "--config", "relay.json",
			"--cacert", "ca.pem", "--allow-private", "--retries", "0", "--workers", "8",
			"--schedule", "0s"+strings.Repeat(",20ms", 30))
	}
	const keys, perKey = 3, 8
	for i := range perKey {
		for k := range keys {
			ps[(i*keys+k)%relays].mustPost(t, fmt.Sprintf(`{"id":"e%d-%d","topic":"order:step","partitionKey":"order-%d","payload":{"n":%d}}`, k, i, k, i), nil)
		}
	}
	ds := waitOK(t, rcv, keys*perKey, ps[0])
	for _, p := range ps {
		if code := p.stop(t); code != 0 {
			t.Errorf("relay exit %d on SIGTERM\n%s", code, p.stderr())
		}
	}
	got := map[string][]int{}
	for _, d := range ds {
		var ev struct {
			PartitionKey string `json:"partitionKey"`
			Payload      struct{ N int }
		}
		if err := json.Unmarshal(d.Body, &ev); err != nil {
			t.Fatalf("body %q: %v", d.Body, err)
		}
		got[ev.PartitionKey] = append(got[ev.PartitionKey], ev.Payload.N)
	}
	for k := range keys {
		key := fmt.Sprint("order-", k)
		if want := []int{0, 1, 2, 3, 4, 5, 6, 7}; fmt.Sprint(got[key]) != fmt.Sprint(want) {
			t.Errorf("%s delivered as %v, want %v", key, got[key], want)
		}
	}
	if len(rcv.Deliveries()) == len(ds) {
		t.Error("no request failed: the test did not exercise retries")
	}
}

// TestRelayOrderedKill kills an ordered relay with SIGKILL mid-run and
// starts it again on its store: per key, no request ever arrived before
// its predecessor was answered 200, and the events arrived in order, the
// one in flight at the kill perhaps twice (at least once delivery).
func TestRelayOrderedKill(t *testing.T) {
	dir := t.TempDir()
	rcv, env := orderedDestination(t, dir, sendertest.Delay(10*time.Millisecond))
	args := []string{"--store", "relay.db", "--config", "relay.json", "--cacert", "ca.pem", "--allow-private",
		"--retries", "0", "--workers", "8", "--schedule", "0s" + strings.Repeat(",20ms", 40)}
	p := startRelay(t, dir, env, args...)
	const keys, perKey = 3, 10
	for i := range perKey {
		for k := range keys {
			p.mustPost(t, fmt.Sprintf(`{"id":"e%d-%d","topic":"order:step","partitionKey":"order-%d","payload":{"n":%d}}`, k, i, k, i), nil)
		}
	}
	waitOK(t, rcv, keys*perKey/3, p)
	p.kill(t)
	p = startRelay(t, dir, env, args...)
	last := func() bool { // every key's last event arrived
		seen := 0
		for _, d := range okDeliveries(rcv) {
			if strings.Contains(string(d.Body), fmt.Sprintf(`"n":%d`, perKey-1)) {
				seen++
			}
		}
		return seen >= keys
	}
	for deadline := time.Now().Add(30 * time.Second); !last(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not every key finished; relay:\n%s", p.stderr())
		}
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d on SIGTERM\n%s", code, p.stderr())
	}
	done := map[string]int{} // key → events answered 200 so far
	got := map[string][]int{}
	dups := 0
	for _, d := range rcv.Deliveries() {
		var ev struct {
			PartitionKey string `json:"partitionKey"`
			Payload      struct{ N int }
		}
		if err := json.Unmarshal(d.Body, &ev); err != nil {
			t.Fatalf("body %q: %v", d.Body, err)
		}
		k, n := ev.PartitionKey, ev.Payload.N
		switch {
		case n > done[k]:
			t.Errorf("%s/%d arrived before %s/%d was delivered", k, n, k, done[k])
		case n < done[k]-1:
			t.Errorf("%s/%d arrived again after %s/%d was delivered", k, n, k, done[k]-1)
		case n == done[k]-1 && d.Status/100 == 2:
			dups++ // delivered again
		}
		if d.Status/100 == 2 && n == done[k] {
			done[k]++
			got[k] = append(got[k], n)
		}
	}
	for k := range keys {
		if key := fmt.Sprint("order-", k); done[key] != perKey {
			t.Errorf("%s: %d of %d delivered in order: %v", key, done[key], perKey, got[key])
		}
	}
	if dups > keys {
		t.Errorf("%d events delivered twice: more than the one in flight per key at the kill", dups)
	}
}
