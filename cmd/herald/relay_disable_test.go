package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/sender/sendertest"
)

// A 410 Gone disables the destination in the relay's bbolt file: its
// deliveries are held across a restart, herald outbox enable resumes it,
// and the next relay sends them. /metrics says it is disabled meanwhile.
func TestRelayGoneDisablesAndOutboxEnable(t *testing.T) {
	dir := t.TempDir()
	var healthy atomic.Bool
	rcv, env, args := goneDestination(t, dir, &healthy, "relay.db", 1)
	args = append(args, "--admin-listen", "127.0.0.1:0")
	const disabled = `herald_destination_state{destination="hook",state="disabled"}`

	p := startDisabled(t, dir, rcv, env, args)
	waitMetric(t, p, disabled, "1")
	p.mustPost(t, event("ev-2", "job:ready"), nil)
	time.Sleep(200 * time.Millisecond)
	if code := p.stop(t); code != 0 {
		t.Fatalf("relay exit %d\n%s", code, p.stderr())
	}
	if line := p.stderr(); !strings.Contains(line, "level=WARN") || !strings.Contains(line, "gone (410)") {
		t.Errorf("relay log lacks a WARN line saying why:\n%s", line)
	}
	if pending, dead := outboxStats(t, dir, "relay.db"); pending != 2 || dead != 0 {
		t.Errorf("store holds %d pending, %d dead; want both deliveries held", pending, dead)
	}

	// Still disabled after a restart.
	p = startRelay(t, dir, env, args...)
	waitMetric(t, p, disabled, "1") // read from the store
	time.Sleep(time.Second)
	p.stop(t)
	if n := len(rcv.Deliveries()); n != 1 {
		t.Errorf("the disabled destination got %d requests, want 1", n)
	}
	if line := p.stderr(); !strings.Contains(line, "destination disabled; its deliveries are held") || !strings.Contains(line, "destination=hook") {
		t.Errorf("a restarted relay does not say that hook is disabled:\n%s", line)
	}
	// One line says it, with the destination, the reason and the way out.
	var said []string
	for _, line := range strings.Split(p.stderr(), "\n") {
		if strings.Contains(line, "disabled") && strings.Contains(line, "destination=hook") {
			said = append(said, line)
		}
	}
	if len(said) != 1 || !strings.Contains(said[0], "herald outbox enable --store STORE --dest NAME") || !strings.Contains(said[0], "gone (410)") {
		t.Errorf("a restarted relay says hook is disabled in %d lines, want one with the reason and the hint:\n%s", len(said), strings.Join(said, "\n"))
	}

	// herald outbox states shows which destination holds them, and why.
	if r := must(t, runOpts{dir: dir}, "outbox", "states", "--store", "relay.db"); !strings.HasPrefix(r.stdout, `{"destination":"hook",`) ||
		!strings.Contains(r.stdout, `"disabled":"`) || !strings.Contains(r.stdout, "gone (410)") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("outbox states printed %q, want hook's line, disabled with its reason", r.stdout)
	}
	r := must(t, runOpts{dir: dir}, "outbox", "enable", "--store", "relay.db", "--dest", "hook")
	if !strings.HasPrefix(r.stdout, "enabled hook (disabled at ") || !strings.Contains(r.stdout, "gone (410)") {
		t.Errorf("outbox enable printed %q", r.stdout)
	}
	healthy.Store(true)
	p = startRelay(t, dir, env, args...)
	waitOK(t, rcv, 2, p)
	waitMetric(t, p, disabled, "0")
	p.stop(t)
	if pending, dead := outboxStats(t, dir, "relay.db"); pending != 0 || dead != 0 {
		t.Errorf("store holds %d pending, %d dead after enable", pending, dead)
	}
	if r := must(t, runOpts{dir: dir}, "outbox", "states", "--store", "relay.db"); r.stdout != "" {
		t.Errorf("outbox states after enable and a delivery printed %q, want nothing", r.stdout)
	}
	if r := must(t, runOpts{dir: dir}, "outbox", "enable", "--store", "relay.db", "--dest", "hook"); r.stdout != "hook was not disabled\n" {
		t.Errorf("a second enable printed %q", r.stdout)
	}
	expect(t, runOpts{dir: dir}, 2, []string{"enable takes --dest NAME only"}, "outbox", "enable", "--store", "relay.db")
}

// waitMetric waits until the relay's /metrics shows series at want.
func waitMetric(t *testing.T, p *relayProc, series, want string) {
	t.Helper()
	admin := p.adminURL(t)
	var scrape string
	eventually(t, func() string { return series + " is not " + want + " in /metrics:\n" + scrape }, func() bool {
		_, scrape = get(admin + "/metrics")
		return metricValue(scrape, series) == want
	})
}

// startDisabled starts a relay with env and args on goneDestination's
// receiver, posts an event, and waits until the receiver answered it 410
// and the relay disabled the destination.
func startDisabled(t *testing.T, dir string, rcv *sendertest.Receiver, env, args []string) *relayProc {
	t.Helper()
	p := startRelay(t, dir, env, args...)
	p.mustPost(t, event("ev-1", "job:ready"), nil)
	if _, err := rcv.WaitFor(1, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string { return "the relay to disable the destination\n" + p.stderr() }, func() bool {
		return strings.Contains(p.stderr(), "destination disabled")
	})
	return p
}

// The limits keys of a --config destination are checked at start-up.
func TestRelayConfigLimits(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ keys, want string }{
		{`"rate": -1`, "rate must be a number of deliveries per second"},
		{`"burst": 5`, "burst applies to a rate"},
		{`"rate": 5, "burst": -2`, "burst must not be negative"},
		{`"disable_after": "soon"`, `disable_after: "soon" is not a duration such as 5d`},
		{`"disable_after": "0d"`, "must be positive"},
		{`"rate": "fast"`, "destinations.rate must be float64"},
	} {
		cfg := writeFile(t, dir, "relay.json", `{"destinations": [{"name": "a", "url": "https://a.example/hook", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", `+tc.keys+`}]}`)
		expect(t, runOpts{dir: dir}, 2, []string{tc.want}, "relay", "--store", "r.db", "--config", cfg, "--in-insecure")
	}
}

// goneDestination starts a receiver that answers 410 Gone until healthy is
// set (then 204), and returns it with the environment and arguments of a
// relay on store that delivers to it as destination "hook" with workers
// workers.
func goneDestination(t *testing.T, dir string, healthy *atomic.Bool, store string, workers int) (*sendertest.Receiver, []string, []string) {
	t.Helper()
	secret, rcv := relayReceiver(t, dir, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if healthy.Load() {
			return 0, nil, nil
		}
		return http.StatusGone, nil, nil
	}))
	args := []string{"--store", store, "--dest", rcv.URL() + "/hook", "--name", "hook", "--secret", "env:WH_SECRET",
		"--cacert", "ca.pem", "--allow-private", "--workers", strconv.Itoa(workers)}
	return rcv, []string{"WH_SECRET=" + secret}, args
}

// A dead letter's line says the way out, as a disabled destination's does:
// the relay's user replays it with herald outbox once the cause is fixed.
func TestRelayDeadLetterLineSaysReplay(t *testing.T) {
	dir := t.TempDir()
	secret, rcv := relayReceiver(t, dir, sendertest.Respond(func(int) (int, http.Header, []byte) {
		return http.StatusInternalServerError, nil, nil
	}))
	p := startRelay(t, dir, []string{"WH_SECRET=" + secret}, "--store", "relay.db", "--dest", rcv.URL()+"/hook", "--name", "hook",
		"--secret", "env:WH_SECRET", "--cacert", "ca.pem", "--allow-private", "--in-insecure", "--schedule", "0s", "--retries", "0")
	p.mustPost(t, event("ev-1", "job:ready"), nil)
	eventually(t, func() string { return "a dead letter\n" + p.stderr() }, func() bool {
		return strings.Contains(p.stderr(), "webhook dead-lettered")
	})
	p.stop(t)
	for _, line := range strings.Split(p.stderr(), "\n") {
		if strings.Contains(line, "webhook dead-lettered") && !strings.Contains(line, "herald outbox replay --store STORE --id ID") {
			t.Errorf("the dead letter's line does not say how to replay it:\n%s", line)
		}
		if strings.Contains(line, "webhook dead-lettered") && !strings.Contains(line, "schedule exhausted after 1 attempt:") {
			t.Errorf("the dead letter's reason does not count its one attempt:\n%s", line)
		}
	}
}

// TestRelayAdminEnables: a running relay holds its bbolt file, so herald
// outbox enable cannot open it; a destination it disabled (410 Gone) is
// enabled through its loopback admin port instead, POST
// /outbox/destinations/enable, and the same relay, without a restart,
// sends the held deliveries. The WARN line says this way out too.
func TestRelayAdminEnables(t *testing.T) {
	dir := t.TempDir()
	var healthy atomic.Bool
	rcv, env, args := goneDestination(t, dir, &healthy, "relay.db", 1)
	p := startDisabled(t, dir, rcv, env, append(args, "--admin-listen", "127.0.0.1:0"))
	p.mustPost(t, event("ev-2", "job:ready"), nil)
	if line := p.stderr(); !strings.Contains(line, "POST /outbox/destinations/enable") {
		t.Errorf("the relay's WARN line does not say the admin port's way out:\n%s", line)
	}
	expect(t, runOpts{dir: dir}, 1, []string{"relay.db"}, "outbox", "enable", "--store", "relay.db", "--dest", "hook")

	healthy.Store(true)
	res, err := http.Post(p.adminURL(t)+"/outbox/destinations/enable", "application/json", strings.NewReader(`{"destination":"hook"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"enabled":"hook"}` {
		t.Fatalf("enable through the admin port: %d %s", res.StatusCode, body)
	}
	waitOK(t, rcv, 2, p)
	if code := p.stop(t); code != 0 {
		t.Fatalf("relay exit %d\n%s", code, p.stderr())
	}
	if pending, dead := outboxStats(t, dir, "relay.db"); pending != 0 || dead != 0 {
		t.Errorf("store holds %d pending, %d dead after enable", pending, dead)
	}
}
