package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

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
		"--allow-private", "--lease-ttl", "3s", "--workers", "16", "--schedule", "0s" + strings.Repeat(",200ms", 30)}

	relays := startRelays(t, dir, 3, nil, args...)
	load := newCrashLoad(t, relays)
	load.post(4)
	kills := 0
	for end := time.Now().Add(6 * time.Second); time.Now().Before(end); kills++ {
		time.Sleep(time.Duration(200+rand.IntN(400)) * time.Millisecond)
		i := rand.IntN(3)
		relays.relay(i).kill(t)
		relays.restart(i)
	}
	load.halt()
	t.Logf("%d events posted, %d acknowledged, %d relays killed", len(load.sent), load.count(), kills)
	if kills < 3 || load.count() < 100 {
		t.Fatalf("too little happened: %d kills, %d acknowledged", kills, load.count())
	}

	// Every acknowledged event arrives, within the lease of the killed,
	// under the id of the event it carries.
	load.waitDelivered(t, rcv)
	dups := load.checkDeliveries(t, rcv)
	t.Logf("%d deliveries of %d ids (%d duplicates, each under its one id)", len(rcv.Deliveries()), len(idCount(okDeliveries(rcv))), dups)
	var pending, dead int
	eventually(t, func() string {
		return fmt.Sprintf("%d pending, %d dead at the end\n%s", pending, dead, relays.relay(0).stderr())
	},
		func() bool {
			pending, dead = outboxStats(t, dir, store)
			return pending == 0 && dead == 0
		})
}
