package listener_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/leaktest"
	"github.com/heraldhq/herald/listener"
)

// keyVerifier is a Verifier of the program's own that holds its key in an
// exported field, the worst case for a formatter.
type keyVerifier struct{ Key []byte }

func (keyVerifier) Verify(http.Header, []byte) (auth.Verified, error) { return auth.Verified{}, nil }

// tokenFeed is a Feed of the program's own that holds an API token in an
// exported field.
type tokenFeed struct{ Token string }

func (tokenFeed) Fetch(context.Context, string) ([]listener.Event, string, error) {
	return nil, "", nil
}

// TestListenerTypesPrintNoSecrets: an HTTPServer whose TLSConfig holds a
// certificate with an Ed25519 key, its HTTPHandler with a Verifier of the
// program's own holding a key, and a Poller with a Feed holding a token
// print none of them under any fmt verb, slog or JSON. (%s and %q of an
// HTTPServer printed the *tls.Config, and with it the server's private key;
// every verb and JSON printed a Verifier's or a Feed's fields.)
func TestListenerTypesPrintNoSecrets(t *testing.T) {
	cert, forbidden := leaktest.Ed25519Cert(t)
	const token = "feed-api-t0ken-5c1d"
	verifierKey := []byte("verifier-own-key-9a8b7c6d")
	forbidden = append(forbidden, leaktest.TextForms(token, string(verifierKey))...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	l := listener.New()
	h := listener.HTTPHandler{Dispatcher: l, Verifier: keyVerifier{Key: verifierKey}, MaxBodyBytes: 1 << 20}
	srv := listener.HTTPServer{Addr: "127.0.0.1:0", NetListener: tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}),
		Path: "/hooks", Handler: h, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	leaktest.Check(t, "HTTPServer", srv, forbidden)
	leaktest.Check(t, "HTTPHandler", h, forbidden)
	poller := &listener.Poller{Feed: tokenFeed{Token: token}}
	leaktest.CheckAsGiven(t, "Poller", poller, forbidden)

	for _, c := range []struct {
		v    any
		want []string
	}{
		{srv, []string{"/hooks", "TLSConfig:*tls.Config", "Verifier:listener_test.keyVerifier", "MaxBodyBytes:1048576"}},
		{poller, []string{"Feed:listener_test.tokenFeed"}},
	} {
		if got := fmt.Sprintf("%+v", c.v); !containsAll(got, c.want) {
			t.Errorf("%%+v = %s; want it to hold %q", got, c.want)
		}
	}
	if got := fmt.Sprintf("%#v", srv); !strings.HasPrefix(got, "listener.HTTPServer{") {
		t.Errorf("%%#v = %s; want it to name listener.HTTPServer", got)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
