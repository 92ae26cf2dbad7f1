package sender_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// failingSigner fails with an error that names no secret.
type failingSigner struct{}

func (failingSigner) Sign(http.Header, auth.Message) error { return auth.ErrBadKey }

// TestNoSecretsInLogsOrErrors runs failing deliveries of every kind, with
// every scheme, to URLs carrying a password and a query string, captures
// all slog output (Debug and up, text and JSON) and every error string, and
// checks that none contains a secret, a signature, a token or the query.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	jsonLogger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var texts []string
	note := func(err error, res sender.Result) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err))
			var de *sender.DeliveryError
			if errors.As(err, &de) {
				texts = append(texts, fmt.Sprintf("%+v", *de))
			}
		}
		texts = append(texts, fmt.Sprintf("%+v", res.ID), fmt.Sprint(res.Status))
	}

	const query, password = "token=hunter2&sig=s3cr3t", "p4ssw0rd"
	forbidden := []string{"hunter2", "s3cr3t", password, query, "/hooks/in"}
	var receivers []*sendertest.Receiver

	sc := schemes(t)
	sc = append(sc, scheme{name: "failing", signer: failingSigner{}})
	for i, s := range sc {
		for _, opt := range []sendertest.Option{
			sendertest.FailFirst(100, 500),
			sendertest.FailFirst(100, 400),
			sendertest.Gone(),
			sendertest.Respond(func(int) (int, http.Header, []byte) {
				return 302, http.Header{"Location": {"https://elsewhere.example/?" + query}}, nil
			}),
			sendertest.Delay(time.Minute),
		} {
			rcv := sendertest.NewReceiver(t, s.verifier, opt)
			receivers = append(receivers, rcv)
			snd := rcv.Sender()
			snd.Logger = logger
			if i%2 == 1 {
				snd.Logger = jsonLogger
			}
			snd.Retry.MaxAttempts = 2
			snd.AttemptTimeout = 50 * time.Millisecond
			u, _ := url.Parse(rcv.URL())
			u.User = url.UserPassword("user", password)
			u.Path, u.RawQuery = "/hooks/in", query
			res, err := snd.Send(context.Background(), sender.Destination{URL: u.String(), Signer: s.signer}, sender.Message{Body: []byte(`{"a":1}`)})
			if err == nil {
				t.Fatalf("%s: delivery succeeded", s.name)
			}
			note(err, res)
		}
	}

	// Failures before any response: DNS, blocked address, certificate,
	// refused connection, bad URL, plain http.
	s := &sender.Sender{Logger: logger, Retry: sender.RetryPolicy{MaxAttempts: 2, MinWait: time.Millisecond},
		LookupNetIP: (&mapResolver{names: map[string][]netip.Addr{"private.test": addrs("10.0.0.1")}}).LookupNetIP}
	local := &sender.Sender{Logger: jsonLogger, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Retry: s.Retry}
	tlsRcv := sendertest.NewReceiver(t, nil)
	for _, c := range []struct {
		s   *sender.Sender
		url string
	}{
		{s, "https://user:" + password + "@nowhere.test/x?" + query},
		{s, "https://private.test/x?" + query},
		{s, "https://169.254.169.254/latest?" + query},
		{s, "http://user:" + password + "@example.com/x?" + query},
		{s, "https://exa mple.com/x?" + query},
		{s, "https://[::1/x?" + query},
		{local, tlsRcv.URL() + "/x?" + query},
		{local, "https://127.0.0.1:1/x?" + query},
	} {
		res, err := c.s.Send(context.Background(), sender.Destination{URL: c.url, Signer: sc[0].signer}, sender.Message{Body: []byte("{}")})
		if err == nil {
			t.Fatalf("%s: delivery succeeded", c.url)
		}
		note(err, res)
	}

	// Everything the receivers saw that is secret: signatures and tokens.
	for _, rcv := range receivers {
		for _, d := range rcv.Deliveries() {
			for _, h := range []string{"Webhook-Signature", "X-Hub-Signature-256", "Stripe-Signature", "Authorization"} {
				for _, v := range d.Header.Values(h) {
					forbidden = append(forbidden, v)
					for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '=' }) {
						if len(part) >= 16 {
							forbidden = append(forbidden, part)
						}
					}
				}
			}
		}
	}
	// The keys, however encoded.
	for _, s := range sc {
		forbidden = append(forbidden, s.keys...)
	}
	if len(forbidden) < 50 {
		t.Fatalf("only %d forbidden strings collected: the receivers saw too little", len(forbidden))
	}

	all := logs.String() + strings.Join(texts, "\n")
	for _, want := range []string{"webhook failed", "retrying", "/…", "status=500", "\"status\":500"} {
		if !strings.Contains(all, want) {
			t.Errorf("logs lack %q: the test captured too little", want)
		}
	}
	for _, f := range forbidden {
		if f != "" && strings.Contains(all, f) {
			t.Errorf("output contains the secret value %q", f)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", all)
	}
}
