package sender_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
)

// TestDestinationPrintsNoCredentials renders a Destination whose URL holds
// user info, a token in its path and one in its query, whose Headers hold
// an Authorization and an API key, and whose OAuth2 token URL holds a
// query secret, through every fmt verb, slog's text and JSON handlers and
// encoding/json, as a value, a pointer, in a slice and in a struct: none
// shows a credential, while the name, host and header names still show.
// (fmt and encoding/json printed the whole URL and every header value.)
func TestDestinationPrintsNoCredentials(t *testing.T) {
	const (
		password   = "url-p4ssw0rd"
		pathToken  = "XyZpathT0ken42"
		queryToken = "qu3ry-s3cret"
		bearer     = "static-b3arer-t0ken"
		apiKey     = "api-k3y-77c1"
		tokenQuery = "tok3n-url-s3cret"
	)
	dest := sender.Destination{
		Name:    "slack-alerts",
		URL:     "https://bot:" + password + "@hooks.example.com/services/T0001/B0002/" + pathToken + "?token=" + queryToken + "#frag",
		Headers: http.Header{"Authorization": {"Bearer " + bearer}, "X-Api-Key": {apiKey}},
		OAuth2: &sender.OAuth2{TokenURL: "https://tokens.example.com/token?key=" + tokenQuery, ClientID: "herald",
			ClientSecret: auth.NewSecret([]byte("client-secret-value"))},
		Topics: []string{"job:*"},
	}
	forbidden := []string{password, pathToken, queryToken, bearer, apiKey, tokenQuery, "client-secret-value"}
	type holder struct {
		Dest  sender.Destination
		Other string
	}
	for _, v := range []any{dest, &dest, []sender.Destination{dest}, holder{dest, "x"}, &holder{dest, "x"},
		map[string]sender.Destination{"a": dest}} {
		outs := renderAll(v)
		for _, out := range outs {
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Errorf("%T shows %q:\n%s", v, f, out)
				}
			}
		}
		for _, want := range []string{"slack-alerts", "hooks.example.com", "X-Api-Key", "job:*"} {
			if !strings.Contains(outs[0], want) || !strings.Contains(outs[len(outs)-2], want) {
				t.Errorf("%T: %%v or JSON lacks %q: the rendering says too little:\n%s\n%s", v, want, outs[0], outs[len(outs)-2])
			}
		}
	}
	if got := fmt.Sprintf("%#v", dest); !strings.HasPrefix(got, "sender.Destination{") {
		t.Errorf("%%#v = %s; want it to name sender.Destination", got)
	}
	var nilDest *sender.Destination
	if got := fmt.Sprintf("%v", nilDest); got != "<nil>" {
		t.Errorf("nil *Destination prints %q", got)
	}
}

// TestDestinationHidesEd25519ClientKey: a client certificate loaded from
// PEM with an Ed25519 key holds the key as a byte slice, which fmt prints
// under %s, %q, %x, %X and %d through the *tls.Certificate (an ECDSA or
// RSA key is a pointer, shown as an address). A Destination holding one
// shows no form of the key under any verb, slog or JSON.
func TestDestinationHidesEd25519ClientKey(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herald-ed25519"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cert.PrivateKey.(ed25519.PrivateKey); !ok {
		t.Fatalf("the key loaded as %T, not ed25519.PrivateKey", cert.PrivateKey)
	}
	dest := sender.Destination{Name: "mtls", URL: "https://hooks.example.com/in", ClientCert: &cert}
	forbidden := append(byteForms(priv.Seed()), byteForms(priv)...)
	for _, v := range []any{dest, &dest, []sender.Destination{dest}} {
		for _, out := range renderAll(v) {
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Fatalf("%T shows the client key as %q:\n%.400s", v, f, out)
				}
			}
		}
	}
	if got := fmt.Sprintf("%+v", dest); !strings.Contains(got, "ClientCert:") || strings.Contains(got, "ClientCert:<nil>") {
		t.Errorf("%%+v = %s; want it to show that a client certificate is set", got)
	}
}

// plainSigner is a Signer of the program's own that keeps its key in an
// exported field and is held by value: fmt and encoding/json print such a
// key wherever they meet the value.
type plainSigner struct{ Key []byte }

func (plainSigner) Sign(http.Header, auth.Message) error { return nil }

// TestDestinationHidesItsSignersFields: a Destination shows its Signer by
// type, not by value, so that a Signer of the program's own that holds its
// key in plain sight does not print it through the Destination. (The
// Signer printed field by field.)
func TestDestinationHidesItsSignersFields(t *testing.T) {
	key := []byte("plain-signer-key-0123456789abcdef")
	for _, signer := range []auth.Signer{plainSigner{Key: key}, &plainSigner{Key: key}} {
		dest := sender.Destination{Name: "own", URL: "https://hooks.example.com/in", Signer: signer}
		for _, v := range []any{dest, &dest, []sender.Destination{dest}} {
			outs := renderAll(v)
			for _, out := range outs {
				for _, f := range byteForms(key) {
					if strings.Contains(out, f) {
						t.Fatalf("%T with a %T shows the key as %q:\n%.400s", v, signer, f, out)
					}
				}
			}
			if !strings.Contains(outs[0], "sender_test.plainSigner") {
				t.Errorf("%%v does not name the Signer's type: %s", outs[0])
			}
		}
	}
}
