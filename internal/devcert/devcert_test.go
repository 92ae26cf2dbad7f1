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

// TestClientForMutualTLS: a server that requires client certificates
// accepts one from Client when its Roots are among the server's ClientCAs,
// and refuses a server certificate from New in its place, though trusted
// alike: its usage is not client authentication.
func TestClientForMutualTLS(t *testing.T) {
	srvCert, err := New("devcert server", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client, err := Client("devcert client", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cas := client.Roots.Clone()
	cas.AddCert(srvCert.TLS.Leaf)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{srvCert.TLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: cas}
	srv.StartTLS()
	defer srv.Close()

	get := func(cert tls.Certificate) (string, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srvCert.Roots, Certificates: []tls.Certificate{cert}}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if cn, err := get(client.TLS); err != nil || cn != "devcert client" {
		t.Fatalf("with the client certificate: %q, %v", cn, err)
	}
	if _, err := get(srvCert.TLS); err == nil {
		t.Fatal("a server certificate passed as a client certificate")
	}
}
