// Package devcert makes self-signed TLS certificates for loopback servers:
// `herald listen --self-signed`, and sendertest.SelfSignedCert, which
// exports it for users' own examples and tests; and client certificates for
// the tests of mutual TLS. Such a
// certificate is trusted only by a client given its pool (or its PEM), never
// by default, so it is for local development and tests, not production.
package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Cert is a self-signed certificate for 127.0.0.1, ::1 and localhost, or,
// from [Client], for a TLS client.
type Cert struct {
	// TLS is the certificate with its private key, for tls.Config.Certificates.
	TLS tls.Certificate
	// Roots is a pool that trusts the certificate, for a client's RootCAs
	// (a server's ClientCAs, for a certificate from [Client]).
	Roots *x509.CertPool
	// PEM is the certificate (not the key) in PEM form, for a CA file.
	PEM []byte
}

// New makes an ECDSA P-256 server certificate named commonName, valid from
// an hour ago for ttl, for 127.0.0.1, ::1 and localhost.
func New(commonName string, ttl time.Duration) (*Cert, error) {
	return newCert(commonName, ttl, x509.ExtKeyUsageServerAuth)
}

// Client makes a client certificate as [New] makes a server one: a server
// that requires client certificates accepts it when Roots is among its
// ClientCAs, and sees commonName as its subject.
func Client(commonName string, ttl time.Duration) (*Cert, error) {
	return newCert(commonName, ttl, x509.ExtKeyUsageClientAuth)
}

// newCert makes a self-signed certificate for usage.
func newCert(commonName string, ttl time.Duration, usage x509.ExtKeyUsage) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devcert: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("devcert: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"herald"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devcert: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devcert: %w", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return &Cert{
		TLS:   tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Roots: roots,
		PEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}
