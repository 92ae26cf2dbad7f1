package sendertest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/devcert"
)

// SelfSignedCert makes a self-signed ECDSA P-256 certificate named
// commonName for 127.0.0.1, ::1 and localhost, valid from an hour ago for
// ttl. It is for local development and tests only, never production: serve
// a loopback receiver with cert (tls.Config.Certificates) and give its
// clients roots (tls.Config.RootCAs) or certPEM (a CA file); no client
// trusts it by default.
func SelfSignedCert(commonName string, ttl time.Duration) (cert tls.Certificate, roots *x509.CertPool, certPEM []byte, err error) {
	c, err := devcert.New(commonName, ttl)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("sendertest: %w", err)
	}
	return c.TLS, c.Roots, c.PEM, nil
}
