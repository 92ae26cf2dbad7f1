package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// hostileName is a certificate name with terminal controls: a DNS name is
// an IA5String, so any ASCII byte fits, and Go's TLS errors quote it.
const hostileName = "\x1b]0;pwned\x07\x1b[2J\rforged"

// hostileReceiver starts a TLS server whose certificate, its own CA, is
// valid for hostileName only, and writes that certificate to dir/ca.pem.
// It returns the server's https://localhost:PORT URL.
func hostileReceiver(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true, DNSNames: []string{hostileName},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // every handshake fails, by design
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return "https://localhost:" + u.Port() + "/hook"
}

// TestHostileReceiverTextEscaped: text a destination controls (here the
// names of its certificate, which Go's TLS error quotes) reaches what
// herald send prints, the relay's log and herald outbox list escaped,
// never raw to the terminal (issue #14, 12).
func TestHostileReceiverTextEscaped(t *testing.T) {
	dir := t.TempDir()
	dest := hostileReceiver(t, dir)
	secret, _ := stdSecret(t, dir)
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}

	r := herald(t, o, "send", "--secret", secret, "--cacert", "ca.pem", "--allow-private", "--retries", "0", dest, "body.json")
	if r.code == 0 || !strings.Contains(r.stdout, `certificate is valid for \u001b]0;pwned\u0007`) {
		t.Fatalf("send: exit %d, the certificate error is not shown escaped:\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	if c, ok := raw(r.stdout + r.stderr); ok {
		t.Errorf("send printed %U raw: %q", c, r.stdout+r.stderr)
	}

	p := startRelay(t, dir, nil, "--store", "relay.db", "--dest", dest, "--secret", secret, "--cacert", "ca.pem",
		"--allow-private", "--in-insecure", "--schedule", "0s,10ms")
	p.mustPost(t, event("e-1", "job:ready"), nil)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr(), "webhook dead-lettered") {
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter:\n%s", p.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d", code)
	}
	if c, ok := raw(p.stderr()); ok || !strings.Contains(p.stderr(), `certificate is valid for \x1b]0;pwned\a`) {
		t.Errorf("the relay's log shows %U raw, or not the certificate error escaped:\n%q", c, p.stderr())
	}
	l := must(t, o, "outbox", "list", "--store", "relay.db")
	if c, ok := raw(l.stdout + l.stderr); ok || !strings.Contains(l.stdout, `certificate is valid for \u001b]0;pwned\u0007`) {
		t.Errorf("outbox list shows %U raw, or not the certificate error escaped:\n%q", c, l.stdout)
	}
}
