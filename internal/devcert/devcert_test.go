package devcert

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestTrustedOnlyThroughItsPool serves HTTPS with a new certificate: a client
// with Roots (or the PEM) connects, one with the system roots does not.
func TestTrustedOnlyThroughItsPool(t *testing.T) {
	c, err := New("devcert test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{c.TLS}}
	srv.StartTLS()
	defer srv.Close()

	fromPEM := x509.NewCertPool()
	if !fromPEM.AppendCertsFromPEM(c.PEM) {
		t.Fatal("PEM does not parse")
	}
	for name, roots := range map[string]*x509.CertPool{"Roots": c.Roots, "PEM": fromPEM} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
	}
	untrusting := &http.Client{Transport: &http.Transport{}}
	if resp, err := untrusting.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Fatal("a client without the pool trusted the certificate")
	}
}
