package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender/sendertest"
)

func TestRelayDelivers(t *testing.T) {
	dir := t.TempDir()
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, []string{"WH_SECRET=" + secret},
		"--store", "relay.db", "--dest", rcv.URL()+"/hook", "--name", "hook", "--secret", "env:WH_SECRET",
		"--cacert", "ca.pem", "--allow-private", "--workers", "1", "--log-level", "debug")

	// The native envelope.
	p.mustPost(t, event("ev-1", "job:ready"), nil)
	d := waitOK(t, rcv, 1, p)[0]
	if wantID := listener.DeliveryID(&listener.Event{ID: "ev-1", Topic: "job:ready"}, "hook"); d.ID != wantID || d.Verified.Scheme != "standard" {
		t.Errorf("delivery id %q (want %q), verified %+v", d.ID, wantID, d.Verified)
	}
	var got listener.Event
	if err := json.Unmarshal(d.Body, &got); err != nil || got.ID != "ev-1" || got.Topic != "job:ready" ||
		got.Context["tenant"] != "t1" || string(got.Payload) != `{"id":"ev-1"}` {
		t.Errorf("body %s is not the event's envelope (%v)", d.Body, err)
	}

	// Posted again after it was delivered, and twice in a row: one
	// delivery per id.
	p.mustPost(t, event("ev-1", "job:ready"), nil)
	p.mustPost(t, event("ev-2", "job:ready"), nil)
	p.mustPost(t, event("ev-2", "job:ready"), nil)
	// A CloudEvent in structured mode (binary mode, whose attributes the
	// inbound signature does not cover, is TestRelayInsecure's).
	p.mustPost(t, `{"specversion":"1.0","id":"ce-4","type":"job:done","source":"/jobs","data":{"n":4}}`,
		http.Header{"Content-Type": {"application/cloudevents+json"}})

	// Malformed events are refused, not enqueued.
	if code, _ := p.post(t, `{"id":"x"`, nil); code != http.StatusBadRequest {
		t.Errorf("malformed JSON: %d, want 400", code)
	}
	if code, _ := p.post(t, `{"id":"x","topic":"no-colon"}`, nil); code != http.StatusBadRequest {
		t.Errorf("bad topic: %d, want 400", code)
	}

	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d on SIGTERM, want 0\n%s", code, p.stderr())
	}
	// Whatever the drain left is still in the store; a second relay sends it.
	if pending, _ := outboxStats(t, dir, "relay.db"); pending > 0 {
		p = startRelay(t, dir, []string{"WH_SECRET=" + secret},
			"--store", "relay.db", "--dest", rcv.URL()+"/hook", "--name", "hook", "--secret", "env:WH_SECRET",
			"--cacert", "ca.pem", "--allow-private")
		waitOK(t, rcv, 3, p)
		p.stop(t)
	}
	ds := okDeliveries(rcv)
	want := map[string]int{}
	for _, ev := range []listener.Event{{ID: "ev-1", Topic: "job:ready"}, {ID: "ev-2", Topic: "job:ready"}, {ID: "ce-4", Topic: "job:done", Context: map[string]string{"source": "/jobs"}}} {
		want[listener.DeliveryID(&ev, "hook")] = 1
	}
	if c := idCount(ds); fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("deliveries per id %v, want %v", c, want)
	}
	if pending, dead := outboxStats(t, dir, "relay.db"); pending != 0 || dead != 0 {
		t.Errorf("store holds %d pending, %d dead after delivery", pending, dead)
	}
	noLeak(t, p.stderr(), secret, strings.TrimPrefix(secret, "whsec_"))
}

func TestRelayTopicRouting(t *testing.T) {
	dir := t.TempDir()
	secretA, vA := stdSecret(t, dir)
	secretB := strings.TrimSpace(must(t, runOpts{dir: dir}, "keygen", "--scheme", "hub").stdout)
	writeFile(t, dir, "b.secret", secretB+"\n")
	vB, err := auth.NewHub([]auth.Secret{auth.NewSecret([]byte(secretB))})
	if err != nil {
		t.Fatal(err)
	}
	a := sendertest.NewReceiver(t, vA)
	b := sendertest.NewReceiver(t, vB)
	writeFile(t, dir, "ca.pem", receiverCertPEM(t, a)+receiverCertPEM(t, b))
	writeFile(t, dir, "relay.json", fmt.Sprintf(`{"destinations": [
  {"name": "a", "url": %q, "topics": ["job:*"], "scheme": "standard", "secret": "env:A_SECRET"},
  {"name": "b", "url": %q, "topics": ["records:*", "job:done"], "scheme": "hub", "secret": "@b.secret",
   "headers": {"X-Env": "test"}}
]}`, a.URL()+"/a", b.URL()+"/b"))
	p := startRelay(t, dir, []string{"A_SECRET=" + secretA},
		"--store", "relay.db", "--config", "relay.json", "--cacert", "ca.pem", "--allow-private")

	topics := map[string]string{"r-1": "billing:paid", "r-2": "job:ready", "r-3": "records:created", "r-4": "job:done"}
	for _, id := range []string{"r-1", "r-2", "r-3", "r-4"} {
		p.mustPost(t, event(id, topics[id]), nil)
	}
	waitOK(t, a, 2, p)
	waitOK(t, b, 2, p)
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d on SIGTERM\n%s", code, p.stderr())
	}
	// Nothing else was enqueued: billing:paid went nowhere.
	if pending, dead := outboxStats(t, dir, "relay.db"); pending != 0 || dead != 0 {
		t.Errorf("store holds %d pending, %d dead", pending, dead)
	}
	check := func(rcv *sendertest.Receiver, dest string, ids ...string) {
		t.Helper()
		want := map[string]int{}
		for _, id := range ids {
			want[listener.DeliveryID(&listener.Event{ID: id, Topic: topics[id]}, dest)] = 1
		}
		if got := idCount(rcv.Deliveries()); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("destination %s got %v, want the events %v", dest, got, ids)
		}
	}
	check(a, "a", "r-2", "r-4")
	check(b, "b", "r-3", "r-4")
	for _, d := range b.Deliveries() {
		if d.Header.Get("X-Env") != "test" || d.Verified.Scheme != "hub" {
			t.Errorf("b's delivery lacks its header or hub signature: %+v", d)
		}
	}
	noLeak(t, p.stderr(), secretA, secretB)
}

func TestRelayInboundVerification(t *testing.T) {
	dir := t.TempDir()
	inSecret, inScheme := stdSecret(t, dir)
	wrongSecret, wrongScheme := stdSecret(t, dir)
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, []string{"IN_SECRET=" + inSecret},
		"--store", "relay.db", "--dest", rcv.URL(), "--secret", secret, "--in-secret", "env:IN_SECRET",
		"--cacert", "ca.pem", "--allow-private")

	signed := func(s auth.Signer, id, body string) http.Header {
		h := http.Header{}
		if err := s.Sign(h, auth.Message{ID: id, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
		return h
	}
	body := event("in-1", "job:ready")
	if code, msg := p.post(t, body, nil); code != http.StatusUnauthorized {
		t.Errorf("unsigned event: %d %q, want 401", code, msg)
	}
	if code, msg := p.post(t, body, signed(wrongScheme, "in-1", body)); code != http.StatusUnauthorized {
		t.Errorf("event signed with another secret: %d %q, want 401", code, msg)
	}
	tampered := event("in-1", "job:done")
	if code, _ := p.post(t, tampered, signed(inScheme, "in-1", body)); code != http.StatusUnauthorized {
		t.Errorf("tampered event: %d, want 401", code)
	}
	p.mustPost(t, body, signed(inScheme, "in-1", body))
	ds := waitOK(t, rcv, 1, p)
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d\n%s", code, p.stderr())
	}
	if len(rcv.Deliveries()) != 1 || ds[0].ID != listener.DeliveryID(&listener.Event{ID: "in-1", Topic: "job:ready"}, "default") {
		t.Errorf("receiver got %+v, want only the signed event", rcv.Deliveries())
	}
	noLeak(t, p.stderr(), secret, inSecret, wrongSecret, strings.TrimPrefix(inSecret, "whsec_"))
	if strings.Contains(p.stderr(), "level=WARN msg=\"relay: --in-insecure") {
		t.Errorf("a verifying relay warns that it does not verify:\n%s", p.stderr())
	}
}

// TestRelayRefusesUnverified: a relay signs what it accepts, so it does not
// start without an inbound verifier unless told --in-insecure, and says
// which flags give one. It creates no store on the way.
func TestRelayRefusesUnverified(t *testing.T) {
	dir := t.TempDir()
	o := runOpts{dir: dir}
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	writeFile(t, dir, "relay.json", `{"destinations": [{"name": "a", "url": "https://a.example/", "secret": "`+secret+`"}]}`)
	for _, args := range [][]string{
		{"relay", "--store", "r.db", "--dest", "https://example.com/hook", "--secret", secret},
		{"relay", "--store", "r.db", "--config", "relay.json", "--listen", "0.0.0.0:0"},
	} {
		r := expect(t, o, 2, []string{"refusing to sign and deliver unverified events", "--in-scheme", "--in-secret", "--in-pubkey", "--in-insecure",
			"herald relay -help"}, args...)
		noLeak(t, r.all(), secret)
	}
	expect(t, o, 2, []string{"--in-insecure or the --in-* scheme flags", "not both"},
		"relay", "--store", "r.db", "--dest", "https://example.com/hook", "--secret", secret, "--in-secret", secret, "--in-insecure")
	if _, err := os.Stat(filepath.Join(dir, "r.db")); err == nil {
		t.Errorf("a relay that refused to start created its store")
	}
}

// TestRelayInsecure: with --in-insecure the relay takes unsigned events,
// binary-mode CloudEvents too, and warns at start that anyone who can
// reach it can have events signed.
func TestRelayInsecure(t *testing.T) {
	dir := t.TempDir()
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, nil, "--store", "relay.db", "--dest", rcv.URL(), "--secret", secret,
		"--cacert", "ca.pem", "--allow-private", "--in-insecure")
	warn := ""
	for _, line := range strings.Split(p.stderr(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "--in-insecure") {
			warn = line
		}
	}
	if !strings.Contains(warn, "anyone who can reach the listen address can have events signed") || !strings.Contains(warn, "listen=127.0.0.1:") {
		t.Errorf("no warning that events go unverified:\n%s", p.stderr())
	}
	p.mustPost(t, event("u-1", "job:ready"), nil)
	p.mustPost(t, `{"n":2}`, http.Header{"Ce-Specversion": {"1.0"}, "Ce-Id": {"u-2"}, "Ce-Type": {"job:done"}, "Ce-Source": {"/jobs"}})
	// Nothing refuses a web page on this machine but what a browser
	// gives away: another site's mark, or a rebound domain's Host.
	for _, bad := range []func(*http.Request){
		func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
		func(r *http.Request) { r.Host = "evil.example:80" },
	} {
		req, _ := http.NewRequest(http.MethodPost, p.url+"/events", strings.NewReader(event("u-3", "job:ready")))
		bad(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("a browser's request (Host %q, Sec-Fetch-Site %q): %d, want 403", req.Host, req.Header.Get("Sec-Fetch-Site"), resp.StatusCode)
		}
	}
	ds := waitOK(t, rcv, 2, p)
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d\n%s", code, p.stderr())
	}
	want := map[string]int{
		listener.DeliveryID(&listener.Event{ID: "u-1", Topic: "job:ready"}, "default"):                                               1,
		listener.DeliveryID(&listener.Event{ID: "u-2", Topic: "job:done", Context: map[string]string{"source": "/jobs"}}, "default"): 1,
	}
	if got := idCount(ds); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	noLeak(t, p.stderr(), secret)
}

// TestRelaySurvivesKill shows that a 2xx means the event is on disk: the
// relay is killed right after the answers, while the destination is
// failing, and a new relay on the same store delivers every event.
func TestRelaySurvivesKill(t *testing.T) {
	dir := t.TempDir()
	var up atomic.Bool
	secret, rcv := relayReceiver(t, dir, sendertest.Respond(func(int) (int, http.Header, []byte) {
		if up.Load() {
			return 0, nil, nil
		}
		return http.StatusServiceUnavailable, nil, nil
	}))
	args := []string{"--store", "relay.db", "--dest", rcv.URL(), "--secret", secret, "--cacert", "ca.pem", "--allow-private",
		"--schedule", "0s" + strings.Repeat(",500ms", 20)}

	p := startRelay(t, dir, nil, args...)
	ids := []string{"k-1", "k-2", "k-3"}
	for _, id := range ids {
		p.mustPost(t, event(id, "job:ready"), nil)
	}
	p.kill(t)
	if pending, dead := outboxStats(t, dir, "relay.db"); pending != len(ids) || dead != 0 {
		t.Fatalf("after SIGKILL the store holds %d pending, %d dead; want %d pending", pending, dead, len(ids))
	}
	if n := len(okDeliveries(rcv)); n != 0 {
		t.Fatalf("%d deliveries succeeded while the receiver was failing", n)
	}

	up.Store(true)
	p = startRelay(t, dir, nil, args...)
	ds := waitOK(t, rcv, len(ids), p)
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d\n%s", code, p.stderr())
	}
	want := map[string]int{}
	for _, id := range ids {
		want[listener.DeliveryID(&listener.Event{ID: id, Topic: "job:ready"}, "default")] = 1
	}
	if got := idCount(ds); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered ids %v, want %v", got, want)
	}
	if pending, dead := outboxStats(t, dir, "relay.db"); pending != 0 || dead != 0 {
		t.Errorf("store holds %d pending, %d dead after delivery", pending, dead)
	}
}

func TestRelayDrain(t *testing.T) {
	dir := t.TempDir()
	secret, v := stdSecret(t, dir)
	for i, c := range []struct {
		name    string
		delay   time.Duration // the receiver's answer time
		args    []string
		pending int // what the store keeps after SIGTERM
	}{
		{"in flight finishes", time.Second, nil, 0},
		{"cut short and kept", time.Minute, []string{"--drain-timeout", "300ms"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rcv := sendertest.NewReceiver(t, v, sendertest.Delay(c.delay))
			ca, store := fmt.Sprintf("ca%d.pem", i), fmt.Sprintf("drain%d.db", i)
			writeFile(t, dir, ca, receiverCertPEM(t, rcv))
			p := startRelay(t, dir, nil, append([]string{"--store", store, "--dest", rcv.URL(), "--secret", secret, "--cacert", ca,
				"--allow-private"}, c.args...)...)
			p.mustPost(t, event(fmt.Sprint("d-", i), "job:ready"), nil)
			if _, err := rcv.WaitFor(1, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			if code := p.stop(t); code != 0 {
				t.Errorf("relay exit %d on SIGTERM, want 0\n%s", code, p.stderr())
			}
			if pending, dead := outboxStats(t, dir, store); pending != c.pending || dead != 0 {
				t.Errorf("%d pending, %d dead after the drain; want %d pending\n%s", pending, dead, c.pending, p.stderr())
			}
		})
	}
}

// TestOutboxDeadLetters: a delivery answered 400 becomes a dead letter,
// which outbox lists and replays to a destination of the same name. (A
// 410 disables its destination instead: TestRelayGoneDisablesAndOutboxEnable.)
func TestOutboxDeadLetters(t *testing.T) {
	dir := t.TempDir()
	secret, v := stdSecret(t, dir)
	gone := sendertest.NewReceiver(t, v, sendertest.FailFirst(1000, http.StatusBadRequest))
	rcv := sendertest.NewReceiver(t, v)
	writeFile(t, dir, "ca.pem", receiverCertPEM(t, gone)+receiverCertPEM(t, rcv))
	o := runOpts{dir: dir}
	common := []string{"--store", "relay.db", "--name", "hook", "--secret", secret, "--cacert", "ca.pem", "--allow-private"}

	p := startRelay(t, dir, nil, append(common, "--dest", gone.URL())...)
	p.mustPost(t, event("x-1", "job:ready"), nil)
	id := listener.DeliveryID(&listener.Event{ID: "x-1", Topic: "job:ready"}, "hook")
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.stderr(), id); {
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter logged:\n%s", p.stderr())
		}
		gone.WaitFor(len(gone.Deliveries())+1, 100*time.Millisecond)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("relay exit %d", code)
	}

	r := must(t, o, "outbox", "list", "--store", "relay.db")
	var dl outbox.DeadLetter
	if err := json.Unmarshal([]byte(r.stdout), &dl); err != nil || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("outbox list printed %q (%v)", r.stdout, err)
	}
	if dl.ID != id || dl.EventID != "x-1" || dl.Destination != "hook" || dl.Topic != "job:ready" || !strings.HasPrefix(dl.Reason, "rejected") {
		t.Errorf("dead letter %+v", dl)
	}
	if r := must(t, o, "outbox", "list", "--store", "relay.db", "--dest", "other"); r.stdout != "" {
		t.Errorf("list --dest other printed %q", r.stdout)
	}
	expect(t, o, 2, []string{"replay takes exactly one of --dest NAME, --id ID or --all"}, "outbox", "replay", "--store", "relay.db")
	// A name no destination or delivery can have is a usage error that
	// says what is wrong with it, not that the selection is missing.
	expect(t, o, 2, []string{"--dest:", "control character"}, "outbox", "replay", "--store", "relay.db", "--dest", "hook\a")
	expect(t, o, 2, []string{"--id:", "not valid UTF-8"}, "outbox", "purge", "--store", "relay.db", "--id", "x\xff")
	expect(t, o, 2, []string{"--dest:", "control character"}, "outbox", "enable", "--store", "relay.db", "--dest", "hook\a")
	if r := must(t, o, "outbox", "replay", "--store", "relay.db", "--dest", "hook"); r.stdout != "replayed 1\n" {
		t.Errorf("replay printed %q", r.stdout)
	}

	p = startRelay(t, dir, nil, append(common, "--dest", rcv.URL())...)
	if ds := waitOK(t, rcv, 1, p); ds[0].ID != id {
		t.Errorf("replayed delivery has id %q, want %q", ds[0].ID, id)
	}
	p.stop(t)
	if pending, dead := outboxStats(t, dir, "relay.db"); pending != 0 || dead != 0 {
		t.Errorf("store holds %d pending, %d dead", pending, dead)
	}
	if r := must(t, o, "outbox", "purge", "--store", "relay.db", "--all"); r.stdout != "purged 0\n" {
		t.Errorf("purge printed %q", r.stdout)
	}
}

func TestRelayBadInput(t *testing.T) {
	dir := t.TempDir()
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	o := runOpts{dir: dir}
	dest := "https://example.com/hook"
	writeFile(t, dir, "bad.json", `{"destinations": [`)
	writeFile(t, dir, "unknown.json", `{"destinations": [{"name": "a", "url": "https://a.example/", "topic": ["job:*"], "secret": "`+secret+`"}]}`)
	writeFile(t, dir, "nosecret.json", `{"destinations": [{"name": "a", "url": "https://a.example/"}]}`)
	writeFile(t, dir, "noname.json", `{"destinations": [{"url": "https://a.example/", "secret": "`+secret+`"}]}`)
	writeFile(t, dir, "dup.json", `{"destinations": [{"name": "a", "url": "https://a.example/", "secret": "`+secret+`"},
		{"name": "a", "url": "https://b.example/", "secret": "`+secret+`"}]}`)
	writeFile(t, dir, "badscheme.json", `{"destinations": [{"name": "a", "url": "https://a.example/", "scheme": "nope", "secret": "`+secret+`"}]}`)
	writeFile(t, dir, "badtopic.json", `{"destinations": [{"name": "a", "url": "https://a.example/", "topics": ["job:*", "job:**"], "secret": "`+secret+`"}]}`)
	writeFile(t, dir, "empty.json", `{"destinations": []}`)
	writeFile(t, dir, "upgrade.json", `{"destinations": [{"name": "a", "url": "https://a.example/", "secret": "`+secret+`", "headers": {"Upgrade": "websocket"}}]}`)
	writeFile(t, dir, "shortsecret.json", `{"destinations": [{"name": "a", "url": "https://a.example/", "secret": "whsec_c2hvcnQ="}]}`)

	cases := []struct {
		name string
		code int
		want []string
		args []string
	}{
		{"missing store", 2, []string{"missing --store"}, []string{"relay", "--dest", dest, "--secret", secret}},
		{"no destination", 2, []string{"missing --dest URL or --config FILE"}, []string{"relay", "--store", "r.db"}},
		{"unknown scheme", 2, []string{`unknown scheme "nope"`}, []string{"relay", "--store", "r.db", "--dest", dest, "--scheme", "nope", "--secret", secret}},
		{"unknown in-scheme", 2, []string{"inbound verification", `unknown scheme "nope"`}, []string{"relay", "--store", "r.db", "--dest", dest, "--secret", secret, "--in-scheme", "nope"}},
		{"missing in-secret", 2, []string{"missing --in-secret"}, []string{"relay", "--store", "r.db", "--dest", dest, "--secret", secret, "--in-scheme", "hub"}},
		{"missing secret", 2, []string{"missing --secret"}, []string{"relay", "--store", "r.db", "--dest", dest}},
		{"bad config JSON", 2, []string{"bad.json", "unexpected end"}, []string{"relay", "--store", "r.db", "--config", "bad.json"}},
		{"config unknown key", 2, []string{`unknown field "topic"`}, []string{"relay", "--store", "r.db", "--config", "unknown.json"}},
		{"config missing secret", 2, []string{`destination "a": missing secret`}, []string{"relay", "--store", "r.db", "--config", "nosecret.json"}},
		{"config missing name", 2, []string{"destination #1: missing name"}, []string{"relay", "--store", "r.db", "--config", "noname.json"}},
		{"config duplicate", 2, []string{`two destinations are named "a"`}, []string{"relay", "--store", "r.db", "--config", "dup.json"}},
		{"config unknown scheme", 2, []string{`destination "a"`, `unknown scheme "nope"`}, []string{"relay", "--store", "r.db", "--config", "badscheme.json"}},
		{"config bad topic", 2, []string{`destination "a": invalid topic pattern "job:**"`}, []string{"relay", "--store", "r.db", "--config", "badtopic.json"}},
		{"config empty", 2, []string{"no destinations"}, []string{"relay", "--store", "r.db", "--config", "empty.json"}},
		{"config connection header", 2, []string{`destination "a": header Upgrade: Upgrade belongs to the connection`}, []string{"relay", "--store", "r.db", "--config", "upgrade.json"}},
		{"config short secret", 2, []string{`destination "a"`, "secret #1"}, []string{"relay", "--store", "r.db", "--config", "shortsecret.json"}},
		{"config missing file", 2, []string{"cannot read --config file"}, []string{"relay", "--store", "r.db", "--config", "nope.json"}},
		{"bad schedule", 2, []string{"--schedule: delay #2"}, []string{"relay", "--store", "r.db", "--dest", dest, "--secret", secret, "--schedule", "0s,soon"}},
		{"negative schedule", 2, []string{"--schedule: delay #1 is negative"}, []string{"relay", "--store", "r.db", "--dest", dest, "--secret", secret, "--schedule", "-1s"}},
		{"bad topic", 2, []string{`--topic: invalid topic pattern "a:b:c:"`}, []string{"relay", "--store", "r.db", "--dest", dest, "--secret", secret, "--topic", "a:b:c:"}},
		{"http dest", 2, []string{"--insecure-http"}, []string{"relay", "--store", "r.db", "--dest", "http://example.com/", "--secret", secret, "--in-insecure"}},
		{"bad workers", 2, []string{"--workers must be positive"}, []string{"relay", "--store", "r.db", "--dest", dest, "--secret", secret, "--workers", "0"}},
		{"bad log level", 2, []string{"unknown --log-level"}, []string{"relay", "--store", "r.db", "--dest", dest, "--secret", secret, "--log-level", "loud"}},
		{"bad log format", 2, []string{`unknown --log-format "yaml" (want text or json)`, "Run 'herald relay -help'"}, []string{"relay", "--store", "r.db", "--dest", dest, "--secret", secret, "--log-format", "yaml"}},
		{"scheme flag without dest", 2, []string{"--secret applies to --dest"}, []string{"relay", "--store", "r.db", "--config", "dup.json", "--secret", secret}},
		{"tls half", 2, []string{"go together"}, []string{"relay", "--store", "r.db", "--dest", dest, "--secret", secret, "--tls-key", "k.pem"}},
		{"store is a directory", 2, []string{"herald relay"}, []string{"relay", "--store", ".", "--dest", dest, "--secret", secret, "--in-insecure"}},
		{"outbox no action", 2, []string{"want one action"}, []string{"outbox", "--store", "r.db"}},
		{"outbox unknown action", 2, []string{`unknown action "drop"`}, []string{"outbox", "drop", "--store", "r.db"}},
		{"outbox missing store", 2, []string{"missing --store"}, []string{"outbox", "list"}},
		{"outbox store not found", 2, []string{"no such file"}, []string{"outbox", "list", "--store", "none.db"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := expect(t, o, c.code, c.want, c.args...)
			if strings.Contains(r.all(), "panic") || strings.Contains(r.all(), "goroutine ") {
				t.Errorf("panicked:\n%s", r.all())
			}
			noLeak(t, r.all(), secret, strings.TrimPrefix(secret, "whsec_"), "c2hvcnQ=")
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Errorf("outbox created a store that did not exist")
	}

	// A store in use by a running relay.
	rcv := sendertest.NewReceiver(t, nil)
	p := startRelay(t, dir, nil, "--store", "busy.db", "--dest", rcv.URL(), "--secret", secret, "--allow-private")
	expect(t, o, 1, []string{"locked"}, "relay", "--listen", "127.0.0.1:0", "--store", "busy.db", "--dest", dest, "--secret", secret, "--in-insecure")
	expect(t, o, 1, []string{"locked", "stop the relay"}, "outbox", "stats", "--store", "busy.db")
	p.stop(t)
}

func TestRelayTLSInboundAndHelp(t *testing.T) {
	dir := t.TempDir()
	cert, _, certPEM, err := sendertest.SelfSignedCert("relay test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "in.pem", string(certPEM))
	writeFile(t, dir, "in.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, nil, "--store", "relay.db", "--dest", rcv.URL(), "--secret", "@"+writeFile(t, dir, "s.txt", secret+"\n"),
		"--cacert", "ca.pem", "--allow-private", "--tls-cert", "in.pem", "--tls-key", "in.key")
	if !strings.HasPrefix(p.url, "https://127.0.0.1:") {
		t.Fatalf("relay with --tls-cert reported %q", p.url)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	p.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	p.mustPost(t, event("tls-1", "job:ready"), nil)
	if ds := waitOK(t, rcv, 1, p); ds[0].ID != listener.DeliveryID(&listener.Event{ID: "tls-1", Topic: "job:ready"}, "default") {
		t.Errorf("delivery id %q", ds[0].ID)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d", code)
	}
	noLeak(t, p.stderr(), secret)

	o := runOpts{dir: dir}
	// The first example verifies the events it takes.
	h := must(t, o, "relay", "-help").stdout
	_, ex, _ := strings.Cut(h, "Example:\n")
	first, _, _ := strings.Cut(strings.TrimSpace(ex), "\n")
	if !strings.Contains(first, "--in-secret") && !strings.Contains(first, "--in-pubkey") || strings.Contains(first, "--in-insecure") {
		t.Errorf("relay's first example does not verify inbound events: %q", first)
	}
	for _, c := range []string{"relay", "outbox"} {
		h := must(t, o, c, "-help")
		if !strings.Contains(h.stdout, "Usage: herald "+c) || !strings.Contains(h.stdout, "Example:") {
			t.Errorf("herald %s -help lacks usage or example:\n%s", c, h.stdout)
		}
		if !strings.Contains(must(t, o, "help").stdout, "\t"+c+" ") {
			t.Errorf("herald help does not list %s", c)
		}
	}
}

// TestSpareProcessor checks the one processor more a relay on a bbolt file
// asks for, and that GOMAXPROCS set in the environment is left as it is.
func TestSpareProcessor(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	if got := spareProcessor(func(string) string { return "" }); got != before+1 || runtime.GOMAXPROCS(0) != before+1 {
		t.Errorf("without GOMAXPROCS: %d processors (runtime %d), want %d", got, runtime.GOMAXPROCS(0), before+1)
	}
	runtime.GOMAXPROCS(before)
	set := func(k string) string {
		if k == "GOMAXPROCS" {
			return "1"
		}
		return ""
	}
	if got := spareProcessor(set); got != before || runtime.GOMAXPROCS(0) != before {
		t.Errorf("with GOMAXPROCS set: %d processors (runtime %d), want %d as it was", got, runtime.GOMAXPROCS(0), before)
	}
}
