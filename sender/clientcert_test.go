package sender_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/devcert"
	"github.com/heraldhq/herald/sender"
)

// clientCert makes a self-signed client certificate (its own CA) for cn.
func clientCert(t *testing.T, cn string) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	c, err := devcert.Client(cn, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c.TLS, c.TLS.Leaf
}

// mtlsServer is a real HTTPS server that requires a client certificate
// signed by one of cas, and records the common names it saw.
type mtlsServer struct {
	*httptest.Server
	mu  sync.Mutex
	cns []string
}

func newMTLSServer(t *testing.T, h http.HandlerFunc, cas ...*x509.Certificate) *mtlsServer {
	t.Helper()
	m := &mtlsServer{}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	m.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.cns = append(m.cns, r.TLS.PeerCertificates[0].Subject.CommonName)
		m.mu.Unlock()
		if h != nil {
			h(w, r)
		}
	}))
	m.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	m.StartTLS()
	t.Cleanup(m.Close)
	return m
}

func (m *mtlsServer) seen() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.cns...)
}

// TestClientCertMutualTLS delivers to a receiver that requires a client
// certificate: refused without one, accepted with the destination's own;
// a destination without a certificate on the same host never rides on the
// connection another destination opened with one, and one with a
// certificate the receiver does not trust is refused.
func TestClientCertMutualTLS(t *testing.T) {
	good, goodCA := clientCert(t, "herald-good")
	other, _ := clientCert(t, "herald-untrusted")
	rcv := newMTLSServer(t, nil, goodCA)
	s := trustingSender(rcv.Server)
	s.Retry.MaxAttempts = 1
	ctx := context.Background()
	msg := sender.Message{Body: []byte(`{}`)}

	plain := sender.Destination{Name: "plain", URL: rcv.URL + "/in"}
	withCert := sender.Destination{Name: "mtls", URL: rcv.URL + "/in", ClientCert: &good}
	wrongCert := sender.Destination{Name: "wrong", URL: rcv.URL + "/in", ClientCert: &other}
	if err := s.Validate(withCert); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, plain, msg); !errors.Is(err, sender.ErrNetwork) {
		t.Fatalf("without a certificate: %v, want ErrNetwork", err)
	}
	for i := range 3 {
		if res, err := s.Send(ctx, withCert, msg); err != nil || res.Status != 200 {
			t.Fatalf("with the certificate, delivery %d: %v", i, err)
		}
	}
	if _, err := s.Send(ctx, plain, msg); !errors.Is(err, sender.ErrNetwork) {
		t.Fatalf("without a certificate, after deliveries with one: %v, want ErrNetwork", err)
	}
	if _, err := s.Send(ctx, wrongCert, msg); !errors.Is(err, sender.ErrNetwork) {
		t.Fatalf("with an untrusted certificate: %v, want ErrNetwork", err)
	}
	if got := strings.Join(rcv.seen(), ","); got != "herald-good,herald-good,herald-good" {
		t.Fatalf("the receiver saw %q", got)
	}

	for _, bad := range []*tls.Certificate{{}, {Certificate: good.Certificate}} {
		d := withCert
		d.ClientCert = bad
		if err := s.Validate(d); !errors.Is(err, sender.ErrInvalidMessage) {
			t.Fatalf("Validate with an incomplete certificate: %v", err)
		}
		if _, err := s.Send(ctx, d, msg); !errors.Is(err, sender.ErrInvalidMessage) {
			t.Fatalf("Send with an incomplete certificate: %v", err)
		}
	}

	// Neither a formatted Destination nor its JSON shows the key.
	key := good.PrivateKey.(*ecdsa.PrivateKey)
	j, _ := json.Marshal(withCert)
	out := fmt.Sprintf("%v %+v %#v %s", withCert, withCert, withCert, j)
	for _, secret := range []string{key.D.String(), key.D.Text(16), string(key.D.Bytes())} {
		if strings.Contains(out, secret) {
			t.Fatalf("a formatted destination shows the private key: %s", out)
		}
	}
}
