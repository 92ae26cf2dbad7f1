package sender_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/sender"
)

// TestCertificateNamesNotQuotedWhole: a receiver, or a tenant's token
// endpoint, whose certificate is for other names makes crypto/x509 list
// them all in its error: 99 names of 2,000 bytes (the certificate is its
// own to make) made an error, and each log line, of 200 KB. The
// certificate's part of the text is now cut to 1 KiB, and the error is
// still a certificate error.
func TestCertificateNamesNotQuotedWhole(t *testing.T) {
	var names []string
	for i := range 99 {
		names = append(names, fmt.Sprintf("n%d.%s.example", i, strings.Repeat("a", 2000)))
	}
	for name, err := range sendToCertFor(t, names) {
		var he x509.HostnameError
		if !errors.As(err, &he) {
			t.Fatalf("%s: err = %.300v; want a certificate error", name, err)
		}
		if n := len(err.Error()); n > 2<<10 {
			t.Errorf("%s: the error's text is %d bytes", name, n)
		}
	}
}

// TestCertificateNamesShowAsThemselves: a receiver's certificate may name
// hosts with control characters (a DNS name is IA5, which takes them),
// and crypto/x509 copies the names into its error raw: an escape sequence
// went into the attempt's error, so into a user's log line or terminal.
// The error now shows every such character as U+FFFD, and is still a
// certificate error.
func TestCertificateNamesShowAsThemselves(t *testing.T) {
	for name, err := range sendToCertFor(t, []string{"evil\x1b[2J\x1b[31m.example", "line\r\nforged.example"}) {
		var he x509.HostnameError
		if !errors.As(err, &he) {
			t.Fatalf("%s: err = %.300v; want a certificate error", name, err)
		}
		if at, ok := wire.Displayable(err.Error()); !ok {
			t.Errorf("%s: the error %+q does not show as itself at byte %d", name, err.Error(), at)
		}
	}
}

// sendToCertFor sends to a receiver, and through a token endpoint, whose
// self-signed certificate is for names, none of them receiver.test, and
// returns the errors, by what was sent to.
func sendToCertFor(t *testing.T, names []string) map[string]error {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{namesCert(t, names)}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s := &sender.Sender{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Retry: sender.RetryPolicy{MaxAttempts: 1},
		LookupNetIP: func(context.Context, string, string) ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}}
	t.Cleanup(s.CloseIdleConnections)
	url := "https://receiver.test:" + strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port) // checked against the names

	errs := map[string]error{}
	for name, dest := range map[string]sender.Destination{
		"destination":    {URL: url},
		"token endpoint": {URL: "https://hooks.example/in", OAuth2: &sender.OAuth2{TokenURL: url + "/token", ClientID: "c"}},
	} {
		_, errs[name] = s.Send(context.Background(), dest, sender.Message{ID: "msg_1"})
	}
	return errs
}

// namesCert makes a self-signed certificate for names.
func namesCert(t *testing.T, names []string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "long"}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
