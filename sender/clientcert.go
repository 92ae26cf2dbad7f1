package sender

import (
	"crypto/tls"
	"fmt"
	"net/http"
)

// maxCertClients bounds the client certificates a Sender keeps a
// connection pool for; past it the pools start over.
const maxCertClients = 256

// errNoClientCert refuses a Destination.ClientCert without a certificate
// or a private key.
var errNoClientCert = fmt.Errorf("%w: Destination.ClientCert holds no certificate or no private key", ErrInvalidMessage)

// certClient returns the client whose connections present cert: a pool of
// its own, so that a connection made with one destination's certificate
// never carries another destination's deliveries, and a TLS session cache
// of its own, since a resumed session keeps the identity it was made with.
// Everything else (guard, CA trust, timeouts) is the Sender's.
func (s *Sender) certClient(cert *tls.Certificate) (*http.Client, error) {
	if v, ok := s.certs.Load(cert); ok {
		return v.(*http.Client), nil
	}
	if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
		return nil, errNoClientCert
	}
	t := s.newTransport()
	t.TLSClientConfig.Certificates = []tls.Certificate{*cert}
	t.TLSClientConfig.GetClientCertificate = nil
	t.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(tlsSessionCacheSize)
	c := &http.Client{Transport: idleKeeper{t}, CheckRedirect: noRedirect}
	if s.ncerts.Add(1) > maxCertClients {
		s.closeCertIdle()
		s.certs.Clear()
		s.ncerts.Store(1)
	}
	v, loaded := s.certs.LoadOrStore(cert, c)
	if loaded {
		t.CloseIdleConnections()
	}
	return v.(*http.Client), nil
}

// closeCertIdle closes the idle connections of the client certificates'
// pools.
func (s *Sender) closeCertIdle() {
	s.certs.Range(func(_, v any) bool {
		v.(*http.Client).Transport.(idleKeeper).rt.(*http.Transport).CloseIdleConnections()
		return true
	})
}
