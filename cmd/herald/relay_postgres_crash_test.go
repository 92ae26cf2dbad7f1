package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestRelayPostgresCrash: three relay processes share one PostgreSQL
// outbox while events are posted to them, and one of them at random is
// SIGKILLed and started again every few hundred milliseconds. Every event
// a relay acknowledged (204) reaches the receiver under its one
// webhook-id; an id comes twice only when a relay died between sending it
// and recording it, and never under another id; nothing is left pending.
func TestRelayPostgresCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("a crash test of several seconds")
	}
	dir := t.TempDir()
	store := pgStoreURL(t)
	rcv := sendertest.NewReceiver(t, nil, sendertest.Delay(5*time.Millisecond))
	writeFile(t, dir, "ca.pem", receiverCertPEM(t, rcv))
	args := []string{"--store", store, "--dest", rcv.URL(), "--secret", "whsec_" + strings.Repeat("QUJD", 8), "--cacert", "ca.pem",
		"--allow-private", "--in-insecure", "--lease-ttl", "3s", "--workers", "16", "--schedule", "0s" + strings.Repeat(",200ms", 30)}

	const relays = 3
	var (
		mu    sync.Mutex
		procs [relays]*relayProc
		kills int
	)
	for i := range procs {
		procs[i] = startRelay(t, dir, nil, args...)
	}
	pick := func() *relayProc {
		mu.Lock()
		defer mu.Unlock()
		return procs[rand.IntN(relays)]
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the killer
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(200+rand.IntN(400)) * time.Millisecond):
			}
			i := rand.IntN(relays)
			mu.Lock()
			old := procs[i]
			mu.Unlock()
			old.kill(t)
			p := startRelay(t, dir, nil, args...)
			mu.Lock()
			procs[i], kills = p, kills+1
			mu.Unlock()
		}
	})
	var (
		ackedMu sync.Mutex
		acked   = map[string]bool{} // delivery id -> acknowledged
		posted  = map[string]bool{} // delivery ids of every event posted
		seq     atomic.Int64
	)
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(6 * time.Second)
	for range 4 { // the posters
		wg.Go(func() {
			for time.Now().Before(deadline) {
				id := fmt.Sprintf("c-%05d", seq.Add(1))
				did := listener.DeliveryID(&listener.Event{ID: id, Topic: "job:ready"}, "default")
				ackedMu.Lock()
				posted[did] = true
				ackedMu.Unlock()
				resp, err := client.Post(pick().url+"/events", "application/json", strings.NewReader(event(id, "job:ready")))
				if err != nil {
					continue // the relay died under it: not acknowledged
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					ackedMu.Lock()
					acked[did] = true
					ackedMu.Unlock()
				}
			}
		})
	}
	time.Sleep(time.Until(deadline))
	close(stop)
	wg.Wait()
	t.Logf("%d events posted, %d acknowledged, %d relays killed", len(posted), len(acked), kills)
	if kills < 3 || len(acked) < 100 {
		t.Fatalf("too little happened: %d kills, %d acknowledged", kills, len(acked))
	}

	// Every acknowledged event arrives, within the lease of the killed.
	got := map[string]int{}
	for end := time.Now().Add(60 * time.Second); ; {
		clear(got)
		for _, d := range rcv.Deliveries() {
			if d.Status/100 == 2 {
				got[d.ID]++
			}
		}
		missing := 0
		for id := range acked {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%d of %d acknowledged events never delivered", missing, len(acked))
		}
		time.Sleep(100 * time.Millisecond)
	}
	dups := 0
	for id, n := range got {
		if !posted[id] {
			t.Errorf("delivered under an id no event has: %s", id)
		}
		dups += n - 1
	}
	t.Logf("%d deliveries of %d ids (%d duplicates, each under its one id)", len(rcv.Deliveries()), len(got), dups)
	mu.Lock()
	last := procs[0]
	mu.Unlock()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		pending, dead := outboxStats(t, dir, store)
		if pending == 0 && dead == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("%d pending, %d dead at the end\n%s", pending, dead, last.stderr())
		}
	}
}
