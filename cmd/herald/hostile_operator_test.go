package main

// The relay against an operator's mistakes and a hostile local client: a
// second review's tests. Each but TestShutdownBoundedHungReceiver failed on
// the code it was written against.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestShutdownBoundedHungReceiver: SIGTERM while every worker waits
// on a receiver (or its OAuth2 token endpoint) that never answers, with a
// long --timeout: the relay exits 0 within --drain-timeout and a grace,
// and keeps the delivery pending.
func TestShutdownBoundedHungReceiver(t *testing.T) {
	dir := t.TempDir()
	var hits atomic.Int32
	release := make(chan struct{})
	hang := func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // and the server notices when the relay hangs up
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	rcv := httptest.NewTLSServer(http.HandlerFunc(hang))
	defer rcv.Close()
	tok := httptest.NewTLSServer(http.HandlerFunc(hang))
	defer tok.Close()
	defer close(release)
	writeFile(t, dir, "ca.pem", certPEM(rcv)+certPEM(tok))
	secret, _ := stdSecret(t, dir)
	for _, c := range []struct{ name, cfg string }{
		{"receiver hangs", fmt.Sprintf(`{"destinations": [{"name": "a", "url": %q, "secret": "env:WH"}]}`, rcv.URL)},
		{"token endpoint hangs", fmt.Sprintf(`{"destinations": [{"name": "a", "url": %q, "secret": "env:WH",
			"oauth2": {"token_url": %q, "client_id": "relay", "client_secret": "s3cret-oauth-123"}}]}`, rcv.URL, tok.URL)},
	} {
		t.Run(c.name, func(t *testing.T) {
			hits.Store(0)
			store := strings.ReplaceAll(c.name, " ", "-") + ".db"
			writeFile(t, dir, "relay.json", c.cfg)
			p := startRelay(t, dir, []string{"WH=" + secret}, "--store", store, "--config", "relay.json", "--cacert", "ca.pem",
				"--allow-private", "--timeout", "10m", "--lease-ttl", "30m", "--drain-timeout", "1s")
			p.mustPost(t, event("hang-1", "job:ready"), nil)
			eventually(t, func() string { return "no request reached the hanging server\n" + p.stderr() },
				func() bool { return hits.Load() > 0 })
			start := time.Now()
			code := p.stop(t)
			took := time.Since(start)
			if code != 0 || took > 8*time.Second {
				t.Errorf("relay exited %d after %v on SIGTERM (drain 1s)\n%s", code, took, p.stderr())
			}
			if pending, dead := outboxStats(t, dir, store); pending != 1 || dead != 0 {
				t.Errorf("%d pending, %d dead after SIGTERM; want the delivery kept\n%s", pending, dead, p.stderr())
			}
		})
	}
}

// TestStoreDSNWithoutSchemeNotEchoed: a PostgreSQL URL whose scheme
// was left out ("user:password@host/db") is taken for a bbolt path; the
// relay neither prints it whole (herald outbox did not; the relay did,
// twice) nor creates a file named after the password (it did).
func TestStoreDSNWithoutSchemeNotEchoed(t *testing.T) {
	dir := t.TempDir()
	const password = "S3cretPassw0rd"
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, store := range []string{
		"relay:" + password + "@db.internal:5432/outbox?sslmode=require",
		"relay:" + password + "@db.internal/outbox",
		"relay:" + password + "@dbhost",
	} {
		t.Run(store, func(t *testing.T) {
			// An impossible --listen ends the relay once its store is open.
			r := herald(t, runOpts{dir: dir}, "relay", "--store", store, "--dest", "https://example.com/hook", "--secret", secret,
				"--in-insecure", "--listen", "127.0.0.1:99999")
			noLeak(t, r.all(), password)
			if r.code == 0 {
				t.Errorf("relay exit 0 with --store %q", store)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), password) {
					t.Errorf("relay created %s", filepath.Join(dir, e.Name()))
				}
			}
		})
	}
}

// TestRelayAdminHistoryLongID: one GET on the relay's loopback admin
// port, /outbox/history with an id longer than any delivery's, on a NATS
// --store, does not close the relay's connection to its outbox: after it,
// events are still taken (204) and delivered. (The id went into a NATS
// subject past max_control_line; the server closed the connection for good
// and every event got 500.)
func TestRelayAdminHistoryLongID(t *testing.T) {
	dir := t.TempDir()
	addr, pass := embeddedNATS(t)
	store := fmt.Sprintf("nats://herald:%s@%s?stream=LONGID_OUTBOX&subject=longid.outbox", pass, addr)
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, nil, "--store", store, "--dest", rcv.URL(), "--secret", secret, "--cacert", "ca.pem",
		"--allow-private", "--admin-listen", "127.0.0.1:0")
	admin := p.adminURL(t)
	p.mustPost(t, event("h-1", "job:ready"), nil)
	waitOK(t, rcv, 1, p)

	code, body := get(admin + "/outbox/history?id=" + strings.Repeat("a", 4000))
	t.Logf("history of a 4000-byte id: %d %s", code, strings.TrimSpace(body))
	time.Sleep(time.Second)
	if code, _ := get(admin + "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz answers %d after one /outbox/history request\n%s", code, p.stderr())
	}
	if code, msg := p.post(t, event("h-2", "job:ready"), nil); code != http.StatusNoContent {
		t.Fatalf("after one /outbox/history request the relay answers events %d %q\n%s", code, msg, p.stderr())
	}
	waitOK(t, rcv, 2, p)
}

// TestWorkersTypo: a --workers with a few zeros too many is refused
// as a usage error that names the flag, not a "fatal error: out of
// memory" with a runtime stack after "relay listening".
func TestWorkersTypo(t *testing.T) {
	dir := t.TempDir()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	r := expect(t, runOpts{dir: dir}, 2, []string{"--workers"}, "relay", "--store", "w.db", "--listen", "127.0.0.1:0",
		"--dest", "https://example.com/hook", "--secret", secret, "--in-insecure", "--workers", "1000000000")
	if strings.Contains(r.stderr, "fatal error") || strings.Contains(r.stderr, "relay listening") {
		t.Errorf("relay started and crashed:\n%.600s", r.stderr)
	}
}
