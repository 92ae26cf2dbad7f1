package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/heraldhq/herald/sender/sendertest"
)

const (
	inTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	inParent = "00-" + inTrace + "-00f067aa0ba902b7-01"
)

// adminURL returns where the relay's admin server listens.
func (p *relayProc) adminURL(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`relay admin listening on (http://\S+)`).FindStringSubmatch(p.stderr())
	if m == nil {
		t.Fatalf("the relay did not say where its admin server listens:\n%s", p.stderr())
	}
	return m[1]
}

// get fetches url and returns the status and body ("" and 0 when the
// server is gone).
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue returns the value of the sample line that starts with
// series in a Prometheus text scrape, "" when there is none.
func metricValue(scrape, series string) string {
	for _, line := range strings.Split(scrape, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return rest
		}
	}
	return ""
}

// TestRelayObservability: a relay process with --admin-listen carries an
// event's traceparent to its webhook through its bbolt outbox across a
// SIGKILL and a restart; its /metrics, scraped for real, counts what
// happened under the fixed names; /healthz and /readyz answer, /readyz
// with 503 while the relay drains.
func TestRelayObservability(t *testing.T) {
	dir := t.TempDir()
	var up atomic.Bool
	var slow atomic.Bool
	secret, rcv := relayReceiver(t, dir, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if slow.Load() {
			time.Sleep(3 * time.Second)
		}
		if up.Load() {
			return 0, nil, nil
		}
		return http.StatusServiceUnavailable, nil, nil
	}))
	args := []string{"--store", "relay.db", "--dest", rcv.URL(), "--secret", secret, "--cacert", "ca.pem", "--allow-private",
		"--schedule", "0s" + strings.Repeat(",300ms", 20), "--admin-listen", "127.0.0.1:0", "--drain-timeout", "10s"}

	p := startRelay(t, dir, nil, args...)
	p.mustPost(t, event("o-1", "job:ready"), http.Header{"Traceparent": {inParent}})
	if _, err := rcv.WaitFor(1, 30*time.Second); err != nil { // a 503: pending, retried
		t.Fatal(err)
	}
	p.kill(t)

	up.Store(true)
	p = startRelay(t, dir, nil, args...)
	admin := p.adminURL(t)
	ds := waitOK(t, rcv, 1, p)
	if got := ds[0].Header.Get("Traceparent"); got != inParent {
		t.Fatalf("after SIGKILL and restart the webhook carried traceparent %q, want the event's %q", got, inParent)
	}
	if code, body := get(admin + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(admin + "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, body := get(admin + "/outbox/stats"); code != http.StatusOK || !strings.Contains(body, `"pending"`) {
		t.Errorf("/outbox/stats on loopback: %d %q", code, body)
	}
	// A page whose domain was re-pointed at 127.0.0.1 (DNS rebinding)
	// sends its own Host: refused.
	for host, want := range map[string]int{"evil.example": 403, "evil.example:80": 403, "localhost": 200, "[::1]:1": 200} {
		req, _ := http.NewRequest(http.MethodGet, admin+"/outbox/stats", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("/outbox/stats with Host %q: %d, want %d", host, resp.StatusCode, want)
		}
	}
	p.mustPost(t, event("o-2", "job:ready"), nil)
	if code, _ := p.post(t, `{"id":"bad"`, nil); code != http.StatusBadRequest {
		t.Fatalf("a malformed event got %d, want 400", code)
	}
	waitOK(t, rcv, 2, p)

	var scrape string
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, scrape = get(admin + "/metrics")
		if metricValue(scrape, `herald_outbox_pending`) == "0" && metricValue(scrape, `herald_deliveries_total{destination="default",outcome="delivered"}`) == "2" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for series, want := range map[string]string{
		`herald_deliveries_total{destination="default",outcome="delivered"}`: "2",
		`herald_delivery_attempts_total{code="200",destination="default"}`:   "2",
		`herald_events_received_total{outcome="handled"}`:                    "1", // o-2; o-1 was before the restart
		`herald_events_received_total{outcome="rejected"}`:                   "1",
		`herald_delivery_duration_seconds_count{destination="default"}`:      "2",
		`herald_outbox_pending`:      "0",
		`herald_outbox_dead_letters`: "0",
		`herald_destination_state{destination="default",state="disabled"}`: "0",
		`herald_destination_state{destination="default",state="paused"}`:   "0",
	} {
		if got := metricValue(scrape, series); got != want {
			t.Errorf("%s = %q, want %s", series, got, want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", scrape)
	}

	// Drain: a slow delivery in flight keeps the relay stopping; /readyz
	// says 503 meanwhile, /healthz stays 200.
	slow.Store(true)
	p.mustPost(t, event("o-3", "job:ready"), nil)
	if _, err := rcv.WaitFor(len(rcv.Deliveries())+1, 100*time.Millisecond); err != nil {
		time.Sleep(200 * time.Millisecond) // the request is in flight
	}
	stopped := make(chan int, 1)
	go func() { stopped <- p.stop(t) }()
	saw503 := false
	for !saw503 {
		code, body := get(admin + "/readyz")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "draining") {
			saw503 = true
			if hc, _ := get(admin + "/healthz"); hc != http.StatusOK {
				t.Errorf("/healthz answered %d while draining", hc)
			}
			break
		}
		if code == 0 {
			break // gone
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := <-stopped; code != 0 {
		t.Errorf("relay exit %d\n%s", code, p.stderr())
	}
	if !saw503 {
		t.Fatalf("/readyz never answered 503 while the relay drained\n%s", p.stderr())
	}
}

// TestRelayOTLP: with --otlp-endpoint the relay exports its spans over
// OTLP/HTTP; the webhook continues the event's trace under the relay's
// own attempt span.
func TestRelayOTLP(t *testing.T) {
	var mu sync.Mutex
	names := map[string]int{}
	traces := map[string]bool{}
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					names[sp.Name]++
					traces[sprintHex(sp.TraceId)] = true
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()

	dir := t.TempDir()
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, nil, "--store", "relay.db", "--dest", rcv.URL(), "--secret", secret, "--cacert", "ca.pem",
		"--allow-private", "--otlp-endpoint", collector.URL+"/v1/traces")
	p.mustPost(t, event("t-1", "job:ready"), http.Header{"Traceparent": {inParent}})
	ds := waitOK(t, rcv, 1, p)
	if code := p.stop(t); code != 0 {
		t.Fatalf("relay exit %d\n%s", code, p.stderr())
	}
	parts := strings.Split(ds[0].Header.Get("Traceparent"), "-")
	if len(parts) != 4 || parts[1] != inTrace || parts[2] == "00f067aa0ba902b7" {
		t.Fatalf("webhook traceparent %q: want trace %s under a span of the relay", ds[0].Header.Get("Traceparent"), inTrace)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range []string{"herald.event", "herald.delivery", "herald.send", "herald.attempt"} {
		if names[n] != 1 {
			t.Errorf("collector got %d %q spans, want 1 (all: %v)", names[n], n, names)
		}
	}
	if len(traces) != 1 || !traces[inTrace] {
		t.Errorf("exported traces %v, want only %s", traces, inTrace)
	}
}

func sprintHex(b []byte) string {
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(out)
}
