package main

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/sender/sendertest"
)

// TestRelayFailingMetric: a destination with a disable_after that keeps
// failing for half of it is recorded failing, and /metrics says so
// (herald_destination_state{state="failing"} 1) while it is not disabled;
// the next relay on the store says so too, and the destination's next
// success brings the series back to 0. The second attempt comes
// 13 s ± 20 % after the first (past half the 20 s), the third an hour
// later, so the destination stays failing and is not disabled.
func TestRelayFailingMetric(t *testing.T) {
	dir := t.TempDir()
	var healthy atomic.Bool
	secret, rcv := relayReceiver(t, dir, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if healthy.Load() {
			return 0, nil, nil
		}
		return http.StatusServiceUnavailable, nil, nil
	}))
	writeFile(t, dir, "relay.json", fmt.Sprintf(`{"destinations": [
  {"name": "hook", "url": %q, "secret": "env:WH_SECRET", "disable_after": "20s"}
]}`, rcv.URL()))
	env := []string{"WH_SECRET=" + secret}
	args := []string{"--store", "relay.db", "--config", "relay.json", "--cacert", "ca.pem", "--allow-private",
		"--retries", "0", "--schedule", "0s,13s,1h", "--admin-listen", "127.0.0.1:0"}
	p := startRelay(t, dir, env, args...)
	const (
		failing  = `herald_destination_state{destination="hook",state="failing"}`
		disabled = `herald_destination_state{destination="hook",state="disabled"}`
	)
	waitMetric(t, p, failing, "0")
	p.mustPost(t, event("ev-1", "job:ready"), nil)
	if _, err := rcv.WaitFor(2, 60e9); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, p, failing, "1")
	waitMetric(t, p, disabled, "0")
	if code := p.stop(t); code != 0 {
		t.Fatalf("relay exited %d", code)
	}

	// The next relay reads it failing from the store.
	p = startRelay(t, dir, env, args...)
	waitMetric(t, p, failing, "1")
	healthy.Store(true)
	p.mustPost(t, event("ev-2", "job:ready"), nil)
	waitMetric(t, p, failing, "0")
	p.stop(t)
}
