// Command quickstart runs herald end to end in one process, with nothing to
// set up: a verifying HTTPS receiver (the customer's backend), a listener
// with typed handlers (your integration worker), and a sender that delivers
// the events as webhooks signed two ways, Standard Webhooks (HMAC) and a JWT
// Bearer token (EdDSA). One event arrives through the listener's HTTP source
// as a signed CloudEvent in structured mode, the way a platform would push
// it.
//
//	go run ./examples/quickstart
//
// It prints an account of each event and exits 0 once every delivery was
// verified by the receiver, or 1 with the reason.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/sender"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// JobReady is the payload of "job:ready" events. Handle declares it: the
// listener decodes it once and calls Validate before any handler runs for
// the event, so a job:ready without a job id is refused (400) and not
// forwarded by the job:* Forward either.
type JobReady struct {
	JobID string `json:"jobId"`
	Rows  int    `json:"rows"`
}

// Validate refuses a payload without a job id, so the handler never sees one.
func (j JobReady) Validate() error {
	if j.JobID == "" {
		return errors.New("jobId is required")
	}
	return nil
}

func run(ctx context.Context) error {
	// --- Keys. In production these come from your secret store. ---------
	hmacSecret, err := auth.GenerateStandardSecret() // whsec_…, shared with the receiver
	if err != nil {
		return err
	}
	jwtKey, err := auth.GeneratePrivateKey("EdDSA") // the receiver only needs the public half
	if err != nil {
		return err
	}
	platformSecret, err := auth.GenerateStandardSecret() // what the platform signs its events with
	if err != nil {
		return err
	}

	// --- The receiving backend: an HTTPS server that verifies. ------------
	rx, err := startReceiver(hmacSecret, jwtKey.Public())
	if err != nil {
		return err
	}
	defer rx.close()
	fmt.Printf("receiver  listening on %s (self-signed certificate made at start)\n", rx.url)

	// --- The sender: one shared client, trusting the receiver's CA. ------
	var (
		mu       sync.Mutex
		attempts = map[string][]sender.Attempt{}
	)
	s := &sender.Sender{
		TLS: &tls.Config{RootCAs: rx.roots},
		// Everything here runs on loopback, which the SSRF guard refuses by
		// default; a real destination needs no such exemption.
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Retry:         sender.RetryPolicy{MinWait: 50 * time.Millisecond, MaxWait: time.Second},
		OnAttempt: func(a sender.Attempt) {
			mu.Lock()
			attempts[a.ID] = append(attempts[a.ID], a)
			mu.Unlock()
		},
	}
	std, err := auth.NewStandard([]auth.Secret{hmacSecret})
	if err != nil {
		return err
	}
	jwtSigner, err := auth.NewJWTSigner([]auth.PrivateKey{jwtKey}, auth.WithIssuer("quickstart-worker"))
	if err != nil {
		return err
	}
	hmacDest := sender.Destination{Name: "backend-hmac", URL: rx.url + "/hooks/hmac", Signer: std, Topics: []string{"job:*"}}
	jwtDest := sender.Destination{Name: "backend-jwt", URL: rx.url + "/hooks/jwt", Signer: jwtSigner, Topics: []string{"records:*"}}

	// --- The worker: a listener with handlers. ----------------------------
	l := listener.New()
	if err := listener.Handle(l, "job:ready", func(ctx context.Context, ev *listener.Event, job JobReady) error {
		fmt.Printf("handler   %s: job %s is ready with %d rows\n", ev.ID, job.JobID, job.Rows)
		return nil
	}); err != nil {
		return err
	}
	if err := l.On("job:*", listener.Forward(s, hmacDest)); err != nil {
		return err
	}
	if err := l.On("records:*", listener.Forward(s, jwtDest)); err != nil {
		return err
	}

	// Two events dispatched in process…
	events := []*listener.Event{
		{ID: "evt_001", Topic: "job:ready", CreatedAt: time.Now().UTC(), Payload: []byte(`{"jobId":"job_42","rows":1200}`)},
		{ID: "evt_002", Topic: "records:created", Context: map[string]string{"workbook": "wb_7"}, Payload: []byte(`{"recordIds":["r1","r2"]}`)},
	}
	for _, ev := range events {
		if err := l.Dispatch(ctx, ev); err != nil {
			return fmt.Errorf("dispatch %s: %w", ev.ID, err)
		}
	}

	// …and one pushed by "the platform" over HTTP as a signed CloudEvent,
	// through the listener's HTTP source mounted on the same server.
	platformVerifier, err := auth.NewStandard([]auth.Secret{platformSecret})
	if err != nil {
		return err
	}
	rx.mount("/events", &listener.HTTPHandler{Dispatcher: l, Verifier: platformVerifier})
	status, err := pushCloudEvent(ctx, rx, platformVerifier)
	if err != nil {
		return err
	}
	fmt.Printf("source    POST /events (CloudEvents structured mode, signed) -> %d\n", status)
	if status/100 != 2 {
		return fmt.Errorf("the HTTP source answered %d", status)
	}

	// --- What happened. --------------------------------------------------
	want := 3 // evt_001 and evt_003 to backend-hmac, evt_002 to backend-jwt
	got, err := rx.waitFor(ctx, want)
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Println("deliveries, as the receiver verified them:")
	for _, d := range got {
		mu.Lock()
		as := attempts[d.verified.ID]
		mu.Unlock()
		fmt.Printf("  %s %-16s -> %-12s verified %-8s webhook-id=%s attempts=%d %s\n",
			d.event, d.topic, d.dest, d.verified.Scheme, short(d.verified.ID), len(as), describe(as))
	}
	fmt.Println()
	fmt.Printf("ok: %d events, %d webhooks delivered and verified\n", len(events)+1, len(got))
	return nil
}

// pushCloudEvent posts one CloudEvent in structured mode, signed with the
// platform's secret, to the listener's HTTP source. Its id, type and source
// are in the body, under the signature; binary mode would put them in ce-*
// headers that no scheme signs, and a verifying HTTP source refuses it.
func pushCloudEvent(ctx context.Context, rx *receiver, platform auth.Signer) (int, error) {
	body := []byte(`{"specversion":"1.0","id":"evt_003","type":"job:ready","source":"/platform/jobs",` +
		`"data":{"jobId":"job_43","rows":80}}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rx.url+"/events", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	if err := platform.Sign(req.Header, auth.Message{ID: "evt_003", Body: body, URL: req.URL.String()}); err != nil {
		return 0, err
	}
	resp, err := rx.client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// describe tells the attempts of one delivery in a few words.
func describe(as []sender.Attempt) string {
	var parts []string
	for _, a := range as {
		if a.Err != nil {
			parts = append(parts, fmt.Sprintf("#%d %d (retried)", a.Number, a.Status))
		} else {
			parts = append(parts, fmt.Sprintf("#%d %d", a.Number, a.Status))
		}
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, ", ") + "]"
}

func short(id string) string {
	if len(id) > 13 {
		return id[:13] + "…"
	}
	return id
}
