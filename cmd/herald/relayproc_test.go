package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender/sendertest"
)

// The relay tests' harness: a herald relay process, the events posted to
// it, and the verifying receiver it delivers to.

// relayProc is a running "herald relay".
type relayProc struct {
	cmd *exec.Cmd
	url string // http://127.0.0.1:PORT, or https://
	// client posts events; nil means http.DefaultClient.
	client *http.Client
	// in signs the events that post sends without a signature of their
	// own; nil sends them as they are.
	in   auth.Signer
	mu   sync.Mutex
	errb bytes.Buffer // standard error so far
	done chan error
}

// stderr returns what the relay wrote to standard error so far.
func (p *relayProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.String()
}

// startRelay starts herald relay on 127.0.0.1:0 with args in dir and waits
// until it is ready. Unless args hold an --in-* flag, the relay verifies
// events with a new inbound secret (given in the environment), with which
// post signs them: every test takes the path a real relay takes.
func startRelay(t *testing.T, dir string, env []string, args ...string) *relayProc {
	t.Helper()
	var in auth.Signer
	var inSecret string
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--in-") }) {
		inSecret, in = stdSecret(t, dir)
		env = append(slices.Clip(env), "HERALD_TEST_IN_SECRET="+inSecret)
		args = append(slices.Clip(args), "--in-secret", "env:HERALD_TEST_IN_SECRET")
	}
	cmd := exec.Command(heraldBin, append([]string{"relay", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &relayProc{cmd: cmd, in: in, done: make(chan error, 1)}
	t.Cleanup(func() {
		p.cmd.Process.Kill() // fails harmlessly once it has exited
		p.wait(t)
		noLeak(t, p.stderr(), inSecret, strings.TrimPrefix(inSecret, "whsec_"))
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.errb.WriteString(line + "\n")
			p.mu.Unlock()
			if u, ok := relayReadyURL(line); ok {
				ready <- u
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case p.url = <-ready:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("relay exited before it was ready: %v\n%s", err, p.stderr())
	case <-time.After(30 * time.Second):
		t.Fatalf("relay did not get ready:\n%s", p.stderr())
	}
	if !strings.HasPrefix(strings.TrimPrefix(p.url, "https://"), "127.0.0.1:") && !strings.HasPrefix(p.url, "http://127.0.0.1:") ||
		strings.HasSuffix(p.url, ":0") {
		t.Fatalf("relay reported %q", p.url)
	}
	return p
}

// relayReadyURL returns the URL of the relay's ready line, in text
// ("relay listening on URL") or as a --log-format json record.
func relayReadyURL(line string) (string, bool) {
	if u, ok := strings.CutPrefix(line, "relay listening on "); ok {
		return u, true
	}
	var rec struct{ Msg, URL string }
	if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "relay listening" && rec.URL != "" {
		return rec.URL, true
	}
	return "", false
}

// wait waits for the relay to exit and returns its exit status.
func (p *relayProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return -1
			}
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		t.Fatalf("relay did not exit\n%s", p.stderr())
	}
	return -1
}

// stop sends SIGTERM and returns the exit status.
func (p *relayProc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return p.wait(t)
}

// kill sends SIGKILL and waits for the process to die.
func (p *relayProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.wait(t)
}

// post sends an event to the relay and returns the status and body. With
// p.in, an event whose header carries no signature is signed, under the
// event's id.
func (p *relayProc) post(t *testing.T, body string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.url+"/events", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		req.Header[k] = vs
	}
	if p.in != nil && req.Header.Get("Webhook-Signature") == "" {
		var ev struct{ ID string }
		_ = json.Unmarshal([]byte(body), &ev)
		if ev.ID == "" {
			ev.ID = "unnamed"
		}
		if err := p.in.Sign(req.Header, auth.Message{ID: ev.ID, Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	c := p.client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("posting to the relay: %v\n%s", err, p.stderr())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustPost posts an event and fails unless the relay answers 204.
func (p *relayProc) mustPost(t *testing.T, body string, header http.Header) {
	t.Helper()
	if code, msg := p.post(t, body, header); code != http.StatusNoContent {
		t.Fatalf("relay answered %d %q to %s\n%s", code, msg, body, p.stderr())
	}
}

// event returns a native JSON envelope.
func event(id, topic string) string {
	return fmt.Sprintf(`{"id":%q,"topic":%q,"context":{"tenant":"t1"},"payload":{"id":%q}}`, id, topic, id)
}

// eventID returns the id of a native JSON envelope.
func eventID(t *testing.T, body []byte) string {
	t.Helper()
	var ev struct{ ID string }
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("webhook body %q: %v", body, err)
	}
	return ev.ID
}

// okDeliveries returns the verified 2xx deliveries of rcv.
func okDeliveries(rcv *sendertest.Receiver) []sendertest.Delivery {
	var out []sendertest.Delivery
	for _, d := range rcv.Deliveries() {
		if d.Err == nil && d.Status/100 == 2 {
			out = append(out, d)
		}
	}
	return out
}

// waitOK waits until rcv has n verified 2xx deliveries.
func waitOK(t *testing.T, rcv *sendertest.Receiver, n int, p *relayProc) []sendertest.Delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ds := okDeliveries(rcv)
		if len(ds) >= n {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver got %d good deliveries, want %d; all: %+v\nrelay:\n%s", len(ds), n, rcv.Deliveries(), p.stderr())
		}
		rcv.WaitFor(len(rcv.Deliveries())+1, 200*time.Millisecond)
	}
}

// idCount counts deliveries per webhook-id.
func idCount(ds []sendertest.Delivery) map[string]int {
	m := map[string]int{}
	for _, d := range ds {
		m[d.ID]++
	}
	return m
}

// stdSecret makes a Standard Webhooks secret with keygen and its verifier.
func stdSecret(t *testing.T, dir string) (string, *auth.Scheme) {
	t.Helper()
	text := strings.TrimSpace(must(t, runOpts{dir: dir}, "keygen").stdout)
	s, err := auth.ParseStandardSecret(text)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewStandard([]auth.Secret{s})
	if err != nil {
		t.Fatal(err)
	}
	return text, v
}

// outboxStats runs herald outbox stats on a store; its output must not
// show any of secrets (a password in the store's URL).
func outboxStats(t *testing.T, dir, store string, secrets ...string) (pending, dead int) {
	t.Helper()
	r := must(t, runOpts{dir: dir}, "outbox", "stats", "--store", store)
	noLeak(t, r.all(), secrets...)
	var m struct{ Pending, Dead int }
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("outbox stats printed %q: %v", r.stdout, err)
	}
	return m.Pending, m.Dead
}

// relayReceiver makes a Standard Webhooks secret with keygen and a
// receiver that verifies it and answers as opts script, and writes the
// receiver's certificate to dir/ca.pem, for a relay's --cacert.
func relayReceiver(t *testing.T, dir string, opts ...sendertest.Option) (string, *sendertest.Receiver) {
	t.Helper()
	secret, v := stdSecret(t, dir)
	rcv := sendertest.NewReceiver(t, v, opts...)
	writeFile(t, dir, "ca.pem", receiverCertPEM(t, rcv))
	return secret, rcv
}

// eventually runs cond until it holds, failing the test with what() after
// a generous deadline (the machine may be loaded).
func eventually(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
