package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
)

// loopback is the address guard exemption herald's Sender needs to reach the
// local test servers.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// tlsServer is a local HTTPS server (HTTP/1.1, like most webhook endpoints)
// with the pool that trusts its certificate.
type tlsServer struct {
	*httptest.Server
	// roots trusts the server's certificate.
	roots *x509.CertPool
}

// startTLS starts h on an HTTPS server on 127.0.0.1. Its error log is
// discarded: clients that close idle connections at the end of a run make
// the server log harmless handshake and read errors.
func startTLS(h http.Handler) *tlsServer {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return &tlsServer{Server: srv, roots: roots}
}

// tlsConfig returns a client configuration that trusts s only.
func (s *tlsServer) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: s.roots}
}

// noContent is the endpoint of the delivery benchmark: it reads the body and
// answers 204 No Content.
func noContent(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.WriteHeader(http.StatusNoContent)
}
