package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"

	"github.com/heraldhq/herald/sender"
)

// deliveryFlags is the flag group of a command that delivers webhooks
// (send, relay): which CAs it trusts and which URLs and addresses it may
// reach. Each command registers it with the same names and help text, and
// applies it to its Sender in one place.
type deliveryFlags struct {
	cacert       string
	allowPrivate bool
	insecureHTTP bool
}

// register defines --cacert, --allow-private and --insecure-http on fs.
func (f *deliveryFlags) register(fs *flagSet) {
	fs.StringVar(&f.cacert, "cacert", "", "trust only the CA certificates in this PEM `file` for deliveries")
	fs.BoolVar(&f.allowPrivate, "allow-private", false, "disable the SSRF guard: allow loopback, private and every other address")
	fs.BoolVar(&f.insecureHTTP, "insecure-http", false, "allow http:// destination URLs")
}

// apply sets s's TLS roots, address guard and AllowHTTP from the flags.
// Its errors are usage errors: a --cacert file that cannot be read or holds
// no certificate.
func (f *deliveryFlags) apply(s *sender.Sender) error {
	s.AllowHTTP = f.insecureHTTP
	if f.allowPrivate {
		s.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	}
	if f.cacert == "" {
		return nil
	}
	pem, err := readFileLimited(f.cacert, "--cacert file", maxKeyFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("--cacert file %s holds no PEM certificate", f.cacert)
	}
	s.TLS = &tls.Config{RootCAs: pool}
	return nil
}

// validationHint adds to an error of Sender.Validate the flag that lifts
// it, if one does.
func validationHint(err error) string {
	switch {
	case errors.Is(err, sender.ErrInsecureURL):
		return " (use --insecure-http to allow http://)"
	case errors.Is(err, sender.ErrBlockedAddr):
		return " (--allow-private disables this guard)"
	}
	return ""
}

// serveTLSFlags is the flag group of a command that accepts requests
// (listen, relay): the certificate and key it serves HTTPS with.
type serveTLSFlags struct {
	cert, key string
}

// register defines --tls-cert and --tls-key on fs.
func (f *serveTLSFlags) register(fs *flagSet) {
	fs.StringVar(&f.cert, "tls-cert", "", "serve HTTPS with the certificate chain in this PEM `file`")
	fs.StringVar(&f.key, "tls-key", "", "the private key of --tls-cert, a PEM `file`")
}

// check refuses one flag without the other.
func (f *serveTLSFlags) check() error {
	if (f.cert == "") != (f.key == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	return nil
}

// config returns the server TLS configuration, nil when the flags are not
// given.
func (f *serveTLSFlags) config() (*tls.Config, error) {
	if f.cert == "" {
		return nil, nil
	}
	cert, err := loadTLSPair(f.cert, f.key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// loadTLSPair loads the certificate chain and private key of --tls-cert and
// --tls-key. Errors name the certificate's file, never the key's: a key
// typed where its file name belongs must not be echoed.
func loadTLSPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readFileLimited(certFile, "--tls-cert file", maxKeyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readFile(keyFile, "the --tls-key file", maxKeyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cannot load --tls-cert/--tls-key: %w", err)
	}
	return cert, nil
}
