package sendertest_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldhq/herald/sender/sendertest"
)

// TestSelfSignedCertTrustedOnlyThroughItsPool serves HTTPS with a new
// certificate: a client trusting only its pool (or its PEM) connects, the
// default client does not.
func TestSelfSignedCertTrustedOnlyThroughItsPool(t *testing.T) {
	cert, roots, certPEM, err := sendertest.SelfSignedCert("sendertest test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()

	fromPEM := x509.NewCertPool()
	if !fromPEM.AppendCertsFromPEM(certPEM) {
		t.Fatal("PEM does not parse")
	}
	for name, pool := range map[string]*x509.CertPool{"roots": roots, "PEM": fromPEM} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "ok" {
			t.Fatalf("%s: body %q", name, body)
		}
	}
	if resp, err := http.DefaultClient.Get(srv.URL); err == nil {
		resp.Body.Close()
		t.Fatal("the default client trusted the certificate")
	}
}
