package sender_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/leaktest"
	"github.com/heraldhq/herald/sender"
)

// TestSenderPrintsNoKeys: a Sender whose TLS config holds a client
// certificate with an Ed25519 key, before and after use, prints no form of
// the key under any fmt verb, slog or JSON. (%s, %q, %x, %X and %d printed
// the *tls.Config the field points to, and with it the key's bytes.) A
// Sender is not to be copied (go vet says so), and its Format method is on
// the pointer: only the pointer is rendered.
func TestSenderPrintsNoKeys(t *testing.T) {
	cert, forbidden := leaktest.Ed25519Cert(t)
	fresh := &sender.Sender{
		TLS:           &tls.Config{Certificates: []tls.Certificate{cert}},
		Logger:        slog.New(slog.DiscardHandler),
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		LookupNetIP:   func(context.Context, string, string) ([]netip.Addr, error) { return nil, nil },
		OnAttempt:     func(sender.Attempt) {},
	}
	leaktest.CheckAsGiven(t, "fresh Sender", fresh, forbidden)

	used := &sender.Sender{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}
	dest := sender.Destination{URL: "https://127.0.0.1:1/in", ClientCert: &cert,
		OAuth2: &sender.OAuth2{TokenURL: "https://127.0.0.1:1/token", ClientSecret: auth.NewSecret([]byte("oauth-client-s3cret"))}}
	if _, err := used.Send(context.Background(), dest, sender.Message{Body: []byte("{}")}); err == nil {
		t.Fatal("a send to a blocked address succeeded")
	}
	leaktest.CheckAsGiven(t, "used Sender", used, append(forbidden, leaktest.TextForms("oauth-client-s3cret")...))

	// What is not secret still shows.
	got := fmt.Sprintf("%+v", fresh)
	for _, want := range []string{"TLS:*tls.Config", "10.0.0.0/8", "Logger:*slog.Logger"} {
		if !strings.Contains(got, want) {
			t.Errorf("%%+v lacks %q: %s", want, got)
		}
	}
	if got := fmt.Sprintf("%#v", fresh); !strings.HasPrefix(got, "&sender.Sender{") {
		t.Errorf("%%#v = %s; want it to name sender.Sender", got)
	}
	if got := fmt.Sprintf("%v", (*sender.Sender)(nil)); got != "<nil>" {
		t.Errorf("nil *Sender prints %q", got)
	}
}

// TestOAuth2PrintsNoCredentials: an OAuth2 printed alone (not through its
// Destination) shows its token URL as a log line does, without the user
// info, path or query that may hold a credential, and its secret as
// "[redacted]".
func TestOAuth2PrintsNoCredentials(t *testing.T) {
	const (
		password = "tok3n-url-passw0rd"
		path     = "PathT0kenOfTheEndpoint"
		query    = "qu3ry-k3y-of-the-endpoint"
		secret   = "client-s3cret-value"
	)
	o := &sender.OAuth2{TokenURL: "https://herald:" + password + "@tokens.example.com/t/" + path + "?key=" + query,
		ClientID: "herald-client", ClientSecret: auth.NewSecret([]byte(secret)), Scopes: []string{"hooks"}}
	leaktest.Check(t, "OAuth2", o, leaktest.TextForms(password, path, query, secret))
	got := fmt.Sprintf("%+v", *o)
	for _, want := range []string{"tokens.example.com", "herald-client", "hooks", "[redacted]"} {
		if !strings.Contains(got, want) {
			t.Errorf("%%+v lacks %q: %s", want, got)
		}
	}
	if got := fmt.Sprintf("%#v", *o); !strings.HasPrefix(got, "sender.OAuth2{") {
		t.Errorf("%%#v = %s; want it to name sender.OAuth2", got)
	}
}
