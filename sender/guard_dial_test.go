package sender_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestSendGuardAtDialTime sends to a name that resolves to loopback: refused
// at dial time, with nothing reaching the receiver, unless allowlisted.
func TestSendGuardAtDialTime(t *testing.T) {
	scheme := newTestScheme()
	rcv := sendertest.NewReceiver(t, scheme)
	u, _ := url.Parse(rcv.URL())
	// httptest's certificate is valid for example.com.
	dest := sender.Destination{Name: "rebound", URL: "https://example.com:" + u.Port() + "/hook?token=hunter2", Signer: scheme}
	res := &mapResolver{names: map[string][]netip.Addr{"example.com": addrs("127.0.0.1")}}

	s := rcv.Sender()
	s.AllowNetworks = nil
	s.LookupNetIP = res.LookupNetIP
	r, err := s.Send(context.Background(), dest, sender.Message{Body: []byte("{}")})
	de := mustDeliveryError(t, err)
	if !errors.Is(err, sender.ErrBlockedAddr) || de.Retryable || r.Attempts != 1 || len(rcv.Deliveries()) != 0 {
		t.Fatalf("err = %v, result %+v, %d received; want one refused attempt", err, r, len(rcv.Deliveries()))
	}
	if msg := err.Error(); !strings.Contains(msg, "example.com resolves to 127.0.0.1") || !strings.Contains(msg, "Sender.AllowNetworks") || strings.Contains(msg, "hunter2") {
		t.Fatalf("error text %q", msg)
	}

	s = rcv.Sender()
	s.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	s.LookupNetIP = res.LookupNetIP
	if _, err := s.Send(context.Background(), dest, sender.Message{Body: []byte("{}")}); err != nil {
		t.Fatalf("allowlisted: %v", err)
	}
	if ds := rcv.Deliveries(); len(ds) != 1 || ds[0].Err != nil {
		t.Fatalf("deliveries = %+v", ds)
	}
}

// TestSendLiteralIPRefusedEarly checks literal addresses before any dial.
func TestSendLiteralIPRefusedEarly(t *testing.T) {
	res := &mapResolver{}
	s := &sender.Sender{LookupNetIP: res.LookupNetIP}
	for _, raw := range []string{
		"https://169.254.169.254/latest/meta-data?x=1",
		"https://[::ffff:127.0.0.1]/",
		"https://[64:ff9b::a9fe:a9fe]/",
		"https://10.0.0.1:8443/hook",
	} {
		r, err := s.Send(context.Background(), sender.Destination{URL: raw}, sender.Message{})
		if !errors.Is(err, sender.ErrBlockedAddr) || r.Attempts != 0 {
			t.Errorf("Send(%s) = %v after %d attempts; want ErrBlockedAddr before any", raw, err, r.Attempts)
		}
		if err := s.Validate(sender.Destination{URL: raw}); !errors.Is(err, sender.ErrBlockedAddr) {
			t.Errorf("Validate(%s) = %v", raw, err)
		}
	}
	if res.lookups != 0 {
		t.Errorf("%d DNS lookups for literal addresses", res.lookups)
	}
}

// TestSendRetriesDNSErrors: a failing lookup is a network error, retried.
func TestSendRetriesDNSErrors(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	u, _ := url.Parse(rcv.URL())
	s := rcv.Sender()
	s.LookupNetIP = (&mapResolver{failFirst: 2, names: map[string][]netip.Addr{"example.com": addrs("127.0.0.1")}}).LookupNetIP
	r, err := s.Send(context.Background(), sender.Destination{URL: "https://example.com:" + u.Port() + "/"}, sender.Message{})
	if err != nil || r.Attempts != 3 || len(rcv.Deliveries()) != 1 {
		t.Fatalf("Send = %+v, %v, %d received; want success on attempt 3", r, err, len(rcv.Deliveries()))
	}
}

// TestLookupNetIPPanics: LookupNetIP runs on net/http's dialing
// goroutine, where a panic would end the process whatever Send's caller
// does. It fails the attempt instead, and is logged with its stack.
func TestLookupNetIPPanics(t *testing.T) {
	var logs syncbuf.Buffer
	s := &sender.Sender{
		LookupNetIP: func(context.Context, string, string) ([]netip.Addr, error) { panic("resolver broken") },
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
		Retry:       sender.RetryPolicy{MaxAttempts: 1},
	}
	_, err := s.Send(context.Background(), sender.Destination{URL: "https://example.com/hook"}, sender.Message{})
	if err == nil || !strings.Contains(err.Error(), "LookupNetIP panicked") {
		t.Fatalf("Send: %v, want a failed lookup", err)
	}
	if got := logs.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "resolver broken") || !strings.Contains(got, "goroutine") {
		t.Errorf("log %q, want the panic at Error with its stack", got)
	}
}
