package listener_test

import (
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

// TestListenerTypesPrintNoSecrets: an HTTPServer whose TLSConfig holds a
// certificate with an Ed25519 key, and whose HTTPHandler has a Verifier of
// the program's own holding a key, prints neither under any fmt verb, slog
// or JSON. (%s and %q of an HTTPServer printed the *tls.Config, and with it
// the server's private key; every verb printed the Verifier's fields.)
func TestListenerTypesPrintNoSecrets(t *testing.T) {
	cert, forbidden := leaktest.Ed25519Cert(t)
	verifierKey := []byte("verifier-own-key-9a8b7c6d")
	forbidden = append(forbidden, leaktest.TextForms(string(verifierKey))...)
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

	for _, c := range []struct {
		v    any
		want []string
	}{
		{srv, []string{"/hooks", "TLSConfig:*tls.Config", "Verifier:listener_test.keyVerifier", "MaxBodyBytes:1048576"}},
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
