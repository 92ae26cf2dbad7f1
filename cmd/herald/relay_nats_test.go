package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestRelayNATSStore runs a relay on a JetStream outbox reached with a
// password in the URL, and herald outbox stats, list, replay and purge
// against it from other processes, while the relay runs: what the relay
// delivers and dead-letters, they see, and the password is never printed.
func TestRelayNATSStore(t *testing.T) {
	dir := t.TempDir()
	addr, pass := embeddedNATS(t)
	store := fmt.Sprintf("nats://herald:%s@%s?stream=T_OUTBOX&subject=t.outbox", pass, addr)
	secret, v := stdSecret(t, dir)
	ok := sendertest.NewReceiver(t, v)
	// A 400 makes a dead letter (a 410 would disable the destination).
	gone := sendertest.NewReceiver(t, v, sendertest.FailFirst(1<<30, http.StatusBadRequest))
	writeFile(t, dir, "ca.pem", receiverCertPEM(t, ok)+receiverCertPEM(t, gone))
	writeFile(t, dir, "relay.json", fmt.Sprintf(`{"destinations": [
		{"name": "ok", "url": %q, "topics": ["job:*"], "secret": "env:OUT_SECRET"},
		{"name": "gone", "url": %q, "topics": ["dead:*"], "secret": "env:OUT_SECRET"}]}`, ok.URL(), gone.URL()))
	env := []string{"OUT_SECRET=" + secret}
	p := startRelay(t, dir, env, "--store", store, "--config", "relay.json", "--cacert", "ca.pem", "--allow-private",
		"--schedule", "0s")
	for _, id := range []string{"n-1", "n-2", "n-3"} {
		p.mustPost(t, event(id, "job:ready"), nil)
	}
	p.mustPost(t, event("d-1", "dead:end"), nil)
	ds := waitOK(t, ok, 3, p)
	for _, d := range ds {
		if d.ID != listener.DeliveryID(&listener.Event{ID: strings.TrimSpace(eventID(t, d.Body)), Topic: "job:ready"}, "ok") {
			t.Errorf("delivery %s carries event %s", d.ID, eventID(t, d.Body))
		}
	}
	eventually(t, func() string { return "a dead letter\n" + p.stderr() }, func() bool {
		_, dead := outboxStats(t, dir, store, pass)
		return dead == 1
	})

	r := must(t, runOpts{dir: dir}, "outbox", "list", "--store", store)
	if !strings.Contains(r.stdout, `"destination":"gone"`) || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("outbox list printed %q", r.stdout)
	}
	noLeak(t, r.all(), pass)
	if r := must(t, runOpts{dir: dir}, "outbox", "replay", "--store", store, "--dest", "gone"); r.stdout != "replayed 1\n" {
		t.Errorf("outbox replay printed %q", r.stdout)
	}
	// The running relay sees the replayed delivery and sends it again.
	eventually(t, func() string { return "the replayed delivery\n" + p.stderr() }, func() bool {
		_, dead := outboxStats(t, dir, store, pass)
		return len(gone.Deliveries()) >= 2 && dead == 1
	})
	if r := must(t, runOpts{dir: dir}, "outbox", "purge", "--store", store, "--all"); r.stdout != "purged 1\n" {
		t.Errorf("outbox purge printed %q", r.stdout)
	}
	if pending, dead := outboxStats(t, dir, store, pass); pending != 0 || dead != 0 {
		t.Errorf("after purge: %d pending, %d dead", pending, dead)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d\n%s", code, p.stderr())
	}
	if !strings.Contains(p.stderr(), "store=nats://"+addr) {
		t.Errorf("the relay does not log its store without credentials:\n%s", p.stderr())
	}
	noLeak(t, p.stderr(), pass, secret)
}

// TestNATSStoreErrors checks what a bad NATS --store gets: a usage error
// or a failure that names the problem, never the password.
func TestNATSStoreErrors(t *testing.T) {
	dir := t.TempDir()
	addr, pass := embeddedNATS(t)
	wrong := "wrong-" + randomHex(t, 12)
	relay := []string{"relay", "--listen", "127.0.0.1:0", "--in-insecure", "--dest", "https://127.0.0.1:1/", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--allow-private"}
	type errCase struct {
		args []string
		code int
		want string
	}
	cases := []errCase{
		{append(relay, "--store", fmt.Sprintf("nats://herald:%s@%s", wrong, addr)), 1, "Authorization"},
		{append(relay, "--store", fmt.Sprintf("nats://herald:%s@%s?strem=x", pass, addr)), 2, `unknown query key "strem"`},
		{append(relay, "--store", fmt.Sprintf("nats://herald:%s@%s?replicas=9", pass, addr)), 2, "replicas must be 1 to 5"},
		{append(relay, "--store", "relay.db", "--nats-creds", "x.creds"), 2, "need a nats://"},
		{append(relay, "--store", "relay.db", "--events-subject", "events"), 2, "need a nats://"},
		{append(relay, "--store", fmt.Sprintf("nats://herald:%s@%s", pass, addr), "--events-subject", "a.*"), 2, "without wildcards"},
		{append(relay, "--store", fmt.Sprintf("nats://herald:%s@%s", pass, addr), "--nats-cert", "c.pem"), 2, "go together"},
		{append(relay, "--store", fmt.Sprintf("nats://herald:%s@%s", pass, addr), "--nats-creds", "nope.creds"), 2, "nope.creds"},
		{[]string{"outbox", "stats", "--store", fmt.Sprintf("nats://herald:%s@%s?stream=NOPE", pass, addr)}, 2, "no such outbox stream NOPE"},
		{[]string{"outbox", "stats", "--store", fmt.Sprintf("nats://herald:%s@%s,%s", pass, addr, wrong)}, 2, "server 2"},
	}
	// A token in the URL: the right one reaches the server (which has no
	// outbox stream yet), a wrong one is refused; neither is printed.
	token := "tok-" + randomHex(t, 12)
	ts := natstest.Start(t, &server.Options{Authorization: token})
	cases = append(cases,
		errCase{[]string{"outbox", "list", "--store", fmt.Sprintf("nats://%s@%s", token, ts.Addr())}, 2, "no such outbox stream HERALD_OUTBOX"},
		errCase{[]string{"outbox", "list", "--store", fmt.Sprintf("nats://%s@%s", wrong, ts.Addr())}, 1, "Authorization"})
	// A server without JetStream: the error says what to enable.
	plain, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go plain.Start()
	if !plain.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(plain.Shutdown)
	cases = append(cases, errCase{append(relay, "--store", "nats://"+plain.Addr().String()), 1, "is JetStream enabled on the server?"})
	for _, c := range cases {
		r := expect(t, runOpts{dir: dir}, c.code, []string{c.want}, c.args...)
		noLeak(t, r.all(), pass, wrong, token)
	}
}

// TestRelayEventsSubject feeds a relay events from JetStream as well as
// HTTP: an event that arrives both ways is delivered once, under one id;
// an event whose topic is not its subject's is refused and logged, and not
// delivered.
func TestRelayEventsSubject(t *testing.T) {
	dir := t.TempDir()
	addr, pass := embeddedNATS(t)
	url := fmt.Sprintf("nats://herald:%s@%s", pass, addr)
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, nil, "--store", url, "--events-subject", "acme.events", "--dest", rcv.URL(),
		"--secret", secret, "--cacert", "ca.pem", "--allow-private")
	_, js := natstest.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A body whose topic is not its subject's: refused.
	m := nats.NewMsg("acme.events.job.ready")
	m.Data = []byte(`{"id":"liar","topic":"job:paid","payload":{}}`)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	both := &listener.Event{ID: "both", Topic: "job:ready", Payload: []byte(`{"n":1}`)}
	if err := natsevents.Publish(ctx, js, "acme.events", both); err != nil {
		t.Fatal(err)
	}
	p.mustPost(t, event("both", "job:ready"), nil)
	if err := natsevents.Publish(ctx, js, "acme.events", &listener.Event{ID: "nats-only", Topic: "job:done", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	waitOK(t, rcv, 2, p)
	eventually(t, func() string { return "a warning about the lying event\n" + p.stderr() }, func() bool {
		return strings.Contains(p.stderr(), "level=WARN") && strings.Contains(p.stderr(), "liar")
	})
	// The intake's consumer is deleted under it: the relay serves the
	// intake again (recreating the consumer) rather than stop taking events.
	src := eventSource(js, "acme.events", 1, time.Second, nil)
	if err := js.DeleteConsumer(ctx, src.Stream, "herald-workers"); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string { return "a retry of the intake\n" + p.stderr() }, func() bool {
		return strings.Contains(p.stderr(), "event intake from NATS failed; retrying")
	})
	later := &listener.Event{ID: "later", Topic: "job:done", Payload: []byte(`{}`)}
	if err := natsevents.Publish(ctx, js, "acme.events", later); err != nil {
		t.Fatal(err)
	}
	waitOK(t, rcv, 3, p)
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d\n%s", code, p.stderr())
	}
	want := map[string]int{
		listener.DeliveryID(both, "default"):                                                1,
		listener.DeliveryID(&listener.Event{ID: "nats-only", Topic: "job:done"}, "default"): 1,
		listener.DeliveryID(later, "default"):                                               1,
	}
	if got := idCount(okDeliveries(rcv)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	noLeak(t, p.stderr(), pass, secret)
}

// TestNATSStoreTLS reaches a NATS server that requires TLS through a
// tls:// --store, trusting its CA by --nats-cacert or by the URL's
// cacert=, and refuses it without that CA.
func TestNATSStoreTLS(t *testing.T) {
	dir := t.TempDir()
	cert, _, certPEM, err := sendertest.SelfSignedCert("nats", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "nats-ca.pem", string(certPEM))
	s := natstest.Start(t, &server.Options{
		TLS: true, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	})
	store := "tls://" + s.Addr().String()
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, nil, "--store", store, "--nats-cacert", "nats-ca.pem", "--dest", rcv.URL(),
		"--secret", secret, "--cacert", "ca.pem", "--allow-private")
	p.mustPost(t, event("tls-1", "job:ready"), nil)
	waitOK(t, rcv, 1, p)
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d\n%s", code, p.stderr())
	}
	if pending, dead := outboxStats(t, dir, store+"?cacert=nats-ca.pem"); pending != 0 || dead != 0 {
		t.Errorf("stats: %d pending, %d dead", pending, dead)
	}
	expect(t, runOpts{dir: dir}, 1, []string{"certificate"}, "outbox", "stats", "--store", store)
	expect(t, runOpts{dir: dir}, 2, []string{"differ"}, "outbox", "stats", "--store", store+"?cacert=a.pem", "--nats-cacert", "b.pem")
}

// TestRelayNATSReadiness: /readyz answers 503 while the NATS server is
// down, as it does for a PostgreSQL store that does not answer: a load
// balancer then stops sending events that would fail. It answered 200
// throughout, from the outbox's counts kept in memory.
func TestRelayNATSReadiness(t *testing.T) {
	dir := t.TempDir()
	pass := "pw-" + randomHex(t, 12)
	s := natstest.Start(t, &server.Options{Username: "herald", Password: pass})
	store := fmt.Sprintf("nats://herald:%s@%s", pass, s.Addr())
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, nil, "--store", store, "--dest", rcv.URL(), "--secret", secret, "--cacert", "ca.pem",
		"--allow-private", "--admin-listen", "127.0.0.1:0")
	admin := p.adminURL(t)
	if code, body := get(admin + "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz with the server up: %d %q", code, body)
	}
	s.Shutdown()
	eventually(t, func() string { return "/readyz 503 with the NATS server down\n" + p.stderr() }, func() bool {
		code, _ := get(admin + "/readyz")
		return code == http.StatusServiceUnavailable
	})
}

// TestRelayNATSReconnectHidesToken restarts the NATS server under a relay
// that reaches it with a token in the --store URL (nats://TOKEN@HOST): the
// relay logs the disconnect and the reconnect, and never the token, which
// is the URL's user name, not a password that url.URL.Redacted would mask.
func TestRelayNATSReconnectHidesToken(t *testing.T) {
	dir := t.TempDir()
	token := "tok-" + randomHex(t, 12)
	storeDir := t.TempDir()
	s := natstest.Start(t, &server.Options{Authorization: token, StoreDir: storeDir})
	port := natstest.Port(s)
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, nil, "--store", fmt.Sprintf("nats://%s@%s", token, s.Addr()), "--dest", rcv.URL(),
		"--secret", secret, "--cacert", "ca.pem", "--allow-private")
	s.Shutdown()
	s.WaitForShutdown()
	natstest.Start(t, &server.Options{Authorization: token, StoreDir: storeDir, Port: port})
	eventually(t, func() string { return "the reconnect logged\n" + p.stderr() }, func() bool {
		return strings.Contains(p.stderr(), "nats: reconnected")
	})
	p.mustPost(t, event("after-restart", "job:ready"), nil)
	waitOK(t, rcv, 1, p)
	noLeak(t, p.stderr(), token)
}
