package main

import (
	"encoding/pem"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
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
	cert := rcv.Server().Certificate()
	writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
	p := startRelay(t, dir, []string{"WH_SECRET=" + secret},
		"--store", "relay.db", "--dest", rcv.URL()+"/hook", "--secret", "env:WH_SECRET",
		"--cacert", "ca.pem", "--allow-private", "--log-level", "warn")

	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1); i <= n; i = next.Add(1) {
				id := fmt.Sprintf("ev-%05d", i)
				if err := postSigned(nil, p, id, event(id, "job:ready")); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
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

// postSigned posts one event signed with the relay's inbound secret, with
// c (nil: the default client), from any goroutine, and returns nil on a
// 204.
func postSigned(c *http.Client, p *relayProc, id, body string) error {
	req, err := http.NewRequest(http.MethodPost, p.url+"/events", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := p.in.Sign(req.Header, auth.Message{ID: id, Body: []byte(body)}); err != nil {
		return err
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("relay answered %d", resp.StatusCode)
	}
	return nil
}
