package main

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/flaky"
)

// TestRelayFlakyReceiver3000 is the measurement of issue #17: the relay,
// started as its help shows (defaults for workers, retries and schedule),
// gets 3,000 events through a receiver that fails 40 % of requests (503,
// 429, 500, dropped connections) and answers 5 % after 2 s, every one
// delivered once per webhook-id, in about a minute. It takes that minute,
// so it runs only when named:
//
//	go test -count=1 -run TestRelayFlakyReceiver3000 -v ./cmd/herald
func TestRelayFlakyReceiver3000(t *testing.T) {
	if !strings.Contains(flag.Lookup("test.run").Value.String(), "TestRelayFlakyReceiver3000") {
		t.Skip("a minute-long measurement; run it with -run TestRelayFlakyReceiver3000")
	}
	const n = 3000
	dir := t.TempDir()
	secret, _ := stdSecret(t, dir)
	rcv := flaky.Start(flaky.Mix{Fail: 0.4, Slow: 0.05, Delay: 2 * time.Second})
	t.Cleanup(rcv.Close)
	writeFile(t, dir, "ca.pem", certPEM(rcv.Server()))
	relays := startRelays(t, dir, 1, []string{"WH_SECRET=" + secret},
		"--store", "relay.db", "--dest", rcv.URL()+"/hook", "--secret", "env:WH_SECRET",
		"--cacert", "ca.pem", "--allow-private", "--log-level", "warn")
	p := relays.relay(0)

	start := time.Now()
	load := newCrashLoad(t, relays)
	load.limit = n
	load.post(16)
	load.wg.Wait()
	if f := load.failed.Load(); f != 0 {
		t.Fatalf("%d posts were not acknowledged\n%s", f, p.stderr())
	}
	posted := time.Since(start)
	deadline := time.Now().Add(5 * time.Minute)
	var progress []string
	for tick := 0; ; tick++ {
		got, _ := rcv.Accepted()
		if tick%50 == 0 {
			progress = append(progress, fmt.Sprintf("%ds:%d", tick/10, len(got)))
		}
		if len(got) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d delivered after %s\n%s", len(got), n, time.Since(start), p.stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(start)
	got, _ := rcv.Accepted()
	for id, c := range got {
		if c != 1 {
			t.Errorf("%s accepted %d times, want once", id, c)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d\n%s", code, p.stderr())
	}
	if pending, dead := outboxStats(t, dir, "relay.db"); pending != 0 || dead != 0 {
		t.Errorf("store holds %d pending, %d dead", pending, dead)
	}
	t.Logf("%d events posted in %s, all delivered once in %s, %d requests to the receiver; delivered by time: %s",
		n, posted.Round(time.Millisecond), took.Round(time.Millisecond), rcv.Requests(), strings.Join(progress, " "))
	t.Logf("relay warnings:\n%s", p.stderr())
}
