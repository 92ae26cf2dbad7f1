package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/natstest"
)

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
	relays := startRelays(t, dir, 3, nil, args...)
	load := newCrashLoad(t, relays)
	delivered := func() int { return len(idCount(okDeliveries(rcv))) }
	grows := func(what string, f func() int, n int) {
		t.Helper()
		from := f()
		eventually(t, func() string { return fmt.Sprintf("%s to grow by %d from %d (now %d)", what, n, from, f()) },
			func() bool { return f() >= from+n })
	}
	load.post(3)
	_, js := natstest.Connect(t, ns.url())
	load.publish(js, "fleet.events")
	load.explain = func(missing map[string]string) string {
		return explainNATSOutbox(js, missing) + relayLogs(relays)
	}

	grows("acknowledged events", load.count, 60)
	grows("deliveries", delivered, 30)
	for _, i := range []int{0, 1} {
		// Relay i dies in the middle of requests and deliveries; the others
		// keep taking events and delivering while it is down.
		relays.relay(i).kill(t)
		grows("acknowledged events with one relay down", load.count, 60)
		grows("deliveries with one relay down", delivered, 60)
		relays.restart(i)
	}
	// The NATS server dies: the relays refuse events meanwhile (no 2xx),
	// and carry on once it is back.
	ns.kill(t)
	grows("refused attempts while NATS is down", func() int { return int(load.failed.Load()) }, 5)
	ns.start(t)
	grows("acknowledged events after the NATS restart", load.count, 60)
	grows("deliveries after the NATS restart", delivered, 60)
	relays.relay(2).kill(t)
	relays.restart(2)
	grows("acknowledged events after the last kill", load.count, 30)
	load.halt()

	load.waitDelivered(t, rcv)
	for i := range 3 {
		p := relays.relay(i)
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

	repeats := load.checkDeliveries(t, rcv)
	t.Logf("%d events acknowledged (%d tried), %d delivered, %d repeated deliveries (same id), %d refused attempts, %d relay processes",
		len(load.acked), len(load.sent), delivered(), repeats, load.failed.Load(), len(relays.started))
	for _, p := range relays.started {
		noLeak(t, p.stderr(), pass, secret)
	}
}

// explainNATSOutbox returns what the outbox stream holds for each missing
// event (event id -> delivery id): the latest message of its subject.
func explainNATSOutbox(js jetstream.JetStream, missing map[string]string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	st, err := js.Stream(ctx, "HERALD_OUTBOX")
	if err != nil {
		return fmt.Sprintf("\n  outbox stream: %v", err)
	}
	if info, err := st.Info(ctx); err == nil {
		fmt.Fprintf(&b, "\n  outbox stream: %+v", info.State)
	}
	for _, id := range slices.Sorted(maps.Keys(missing)) {
		subj := "herald.outbox." + base64.RawURLEncoding.EncodeToString([]byte(missing[id]))
		m, err := st.GetLastMsgForSubject(ctx, subj)
		if err != nil {
			fmt.Fprintf(&b, "\n  %s: %v", id, err)
			continue
		}
		fmt.Fprintf(&b, "\n  %s: seq %d at %s, headers %v", id, m.Sequence, m.Time.Format(time.StampMilli), m.Header)
	}
	return b.String()
}

// relayLogs returns the standard error of every relay process started.
func relayLogs(relays *relaySet) string {
	relays.mu.Lock()
	defer relays.mu.Unlock()
	var b strings.Builder
	for i, p := range relays.started {
		fmt.Fprintf(&b, "\n--- relay process %d (%s):\n%s", i, p.url, p.stderr())
	}
	return b.String()
}
