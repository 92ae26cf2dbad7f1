package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
)

func TestGenerateMarshalParseRoundTrip(t *testing.T) {
	for _, alg := range []string{algEdDSA, algES256, algRS256} {
		t.Run(alg, func(t *testing.T) {
			k := must(GeneratePrivateKey(alg))(t)
			if k.Algorithm() != alg || k.Public().Algorithm() != alg {
				t.Fatalf("algorithm = %q/%q, want %q", k.Algorithm(), k.Public().Algorithm(), alg)
			}
			if k.ID() == "" || k.ID() != k.Public().Thumbprint() || k.Public().ID() != k.ID() {
				t.Fatalf("generated kid %q, thumbprint %q", k.ID(), k.Public().Thumbprint())
			}
			privPEM := must(MarshalPrivateKeyPEM(k))(t)
			if !bytes.HasPrefix(privPEM, []byte("-----BEGIN PRIVATE KEY-----")) {
				t.Fatalf("private PEM is not PKCS #8")
			}
			k2 := must(parsePrivateKeyPEM(privPEM, "kid-x"))(t)
			if k2.ID() != "kid-x" || !k2.Public().equal(k.Public()) {
				t.Fatalf("parsed private key differs")
			}
			pubPEM := must(MarshalPublicKeyPEM(k.Public()))(t)
			p := must(parsePublicKeyPEM(pubPEM, "kid-y"))(t)
			if p.ID() != "kid-y" || !p.equal(k.Public()) || p.Algorithm() != alg {
				t.Fatalf("parsed public key differs")
			}
			// Without an id, both halves are named by the thumbprint, as
			// the generated key was: the kid a signer and a verifier that
			// read the two PEM files agree on.
			k3 := must(parsePrivateKeyPEM(privPEM, ""))(t)
			p3 := must(parsePublicKeyPEM(pubPEM, ""))(t)
			if k3.ID() != k.ID() || k3.Public().ID() != k.ID() || p3.ID() != k.ID() {
				t.Fatalf("default kids %q, %q, %q; want the thumbprint %q", k3.ID(), k3.Public().ID(), p3.ID(), k.ID())
			}
			// A private key where a public one belongs: refused, helpfully.
			if _, err := parsePublicKeyPEM(privPEM, ""); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "private key") {
				t.Fatalf("parsePublicKeyPEM(private) = %v", err)
			}
			if _, err := parsePrivateKeyPEM(pubPEM, ""); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "ParsePublicKey") {
				t.Fatalf("parsePrivateKeyPEM(public) = %v", err)
			}
		})
	}
	if _, err := GeneratePrivateKey("HS256"); !errors.Is(err, ErrBadKey) {
		t.Fatalf("GeneratePrivateKey(HS256) = %v", err)
	}
}

func TestParsePrivateKeyPEMLegacyFormats(t *testing.T) {
	ks := asymKeys(t)
	rk := ks.rsa.Signer().(*rsa.PrivateKey)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})
	k, err := parsePrivateKeyPEM(pkcs1, "")
	if err != nil || k.Algorithm() != algRS256 || !k.Public().equal(ks.rsa.Public()) {
		t.Fatalf("PKCS #1: %v", err)
	}

	ek := ks.ec.Signer().(*ecdsa.PrivateKey)
	der := must(x509.MarshalECPrivateKey(ek))(t)
	// As openssl ecparam -genkey writes it: parameters first.
	sec1 := append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})...)
	k, err = parsePrivateKeyPEM(sec1, "")
	if err != nil || k.Algorithm() != algES256 || !k.Public().equal(ks.ec.Public()) {
		t.Fatalf("SEC 1: %v", err)
	}
	pkcs1pub := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rk.PublicKey)})
	p, err := parsePublicKeyPEM(pkcs1pub, "")
	if err != nil || !p.equal(ks.rsa.Public()) {
		t.Fatalf("PKCS #1 public: %v", err)
	}
}

func TestKeysRefused(t *testing.T) {
	rsa1024 := must(rsa.GenerateKey(rand.Reader, 1024))(t)
	p384 := must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))(t)
	p256 := asymKeys(t).ec.Signer().(*ecdsa.PrivateKey)
	der1024, _ := x509.MarshalPKCS8PrivateKey(rsa1024)
	der384, _ := x509.MarshalPKCS8PrivateKey(p384)
	pub384, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	tests := []struct {
		name string
		err  error
	}{
		{"rsa1024", func() error { _, err := NewPrivateKey(rsa1024, ""); return err }()},
		{"rsa1024 public", func() error { _, err := NewPublicKey(&rsa1024.PublicKey, ""); return err }()},
		{"rsa1024 pem", func() error {
			_, err := parsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der1024}), "")
			return err
		}()},
		{"p384", func() error { _, err := NewPrivateKey(p384, ""); return err }()},
		{"p384 pem", func() error {
			_, err := parsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der384}), "")
			return err
		}()},
		{"p384 public pem", func() error {
			_, err := parsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub384}), "")
			return err
		}()},
		// Once accepted, then a panic (nil coordinates) at first use.
		{"ecdsa public without point", func() error {
			_, err := NewPublicKey(&ecdsa.PublicKey{Curve: elliptic.P256()}, "")
			return err
		}()},
		{"ecdsa public off the curve", func() error {
			_, err := NewPublicKey(&ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}, "")
			return err
		}()},
		{"ecdsa private without scalar", func() error {
			_, err := NewPrivateKey(&ecdsa.PrivateKey{PublicKey: p256.PublicKey}, "")
			return err
		}()},
		{"ecdsa private without point", func() error {
			_, err := NewPrivateKey(&ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: elliptic.P256()}, D: big.NewInt(7)}, "")
			return err
		}()},
		{"ecdsa private zero scalar", func() error {
			_, err := NewPrivateKey(&ecdsa.PrivateKey{PublicKey: p256.PublicKey, D: new(big.Int)}, "")
			return err
		}()},
		// The public half's checks hold for a private key too.
		{"rsa private even exponent", func() error {
			k := *asymKeys(t).rsa.Signer().(*rsa.PrivateKey)
			k.E = 4
			_, err := NewPrivateKey(&k, "")
			return err
		}()},
		{"certificate as a private key", func() error {
			_, err := parsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "")
			return err
		}()},
		{"certificate as a public key", func() error {
			_, err := parsePublicKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "")
			return err
		}()},
		{"nil", func() error { _, err := NewPrivateKey(nil, ""); return err }()},
		{"nil public", func() error { _, err := NewPublicKey(nil, ""); return err }()},
		// Typed nil pointers: once a nil dereference waiting to happen.
		{"nil ed25519 pointer", func() error { _, err := NewPrivateKey((*ed25519.PrivateKey)(nil), ""); return err }()},
		{"nil ed25519 public pointer", func() error { _, err := NewPublicKey((*ed25519.PublicKey)(nil), ""); return err }()},
		{"nil ecdsa", func() error { _, err := NewPrivateKey((*ecdsa.PrivateKey)(nil), ""); return err }()},
		{"nil ecdsa public", func() error { _, err := NewPublicKey((*ecdsa.PublicKey)(nil), ""); return err }()},
		{"nil rsa", func() error { _, err := NewPrivateKey((*rsa.PrivateKey)(nil), ""); return err }()},
		{"nil rsa public", func() error { _, err := NewPublicKey((*rsa.PublicKey)(nil), ""); return err }()},
		{"short ed25519 private pointer", func() error { _, err := NewPrivateKey(&ed25519.PrivateKey{1, 2}, ""); return err }()},
		{"short ed25519", func() error { _, err := NewPublicKey(ed25519.PublicKey{1, 2}, ""); return err }()},
		{"short ed25519 private", func() error { _, err := NewPrivateKey(ed25519.PrivateKey{1, 2}, ""); return err }()},
		{"not pem", func() error { _, err := parsePrivateKeyPEM([]byte("hello"), ""); return err }()},
		{"not pem public", func() error { _, err := parsePublicKeyPEM([]byte("hello"), ""); return err }()},
		{"garbage der", func() error {
			_, err := parsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{0x30, 1, 2}}), "")
			return err
		}()},
		{"encrypted", func() error {
			_, err := parsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "")
			return err
		}()},
		{"huge", func() error { _, err := parsePrivateKeyPEM(make([]byte, maxPEMLen+1), ""); return err }()},
		{"marshal zero", func() error { _, err := MarshalPrivateKeyPEM(PrivateKey{}); return err }()},
		{"marshal zero public", func() error { _, err := MarshalPublicKeyPEM(PublicKey{}); return err }()},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, ErrBadKey) {
			t.Errorf("%s: err = %v, want ErrBadKey", tt.name, tt.err)
		}
	}
}

// TestThumbprintRFC8037 checks the Ed25519 thumbprint example of RFC 8037
// appendix A.3.
func TestThumbprintRFC8037(t *testing.T) {
	x := must(base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"))(t)
	k := must(NewPublicKey(ed25519.PublicKey(x), ""))(t)
	if got, want := k.Thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Fatalf("thumbprint = %s, want %s", got, want)
	}
	if (PublicKey{}).Thumbprint() != "" {
		t.Fatal("zero key has a thumbprint")
	}
}

func TestPrivateKeyRedacted(t *testing.T) {
	ks := asymKeys(t)
	for name, k := range map[string]PrivateKey{"ed25519": ks.ed, "ecdsa": ks.ec, "rsa": ks.rsa} {
		t.Run(name, func(t *testing.T) {
			der := must(x509.MarshalPKCS8PrivateKey(k.Signer()))(t)
			// Fragments that would betray the key in any common encoding.
			var secrets []string
			switch s := k.Signer().(type) {
			case ed25519.PrivateKey:
				secrets = append(secrets, fmt.Sprint([]byte(s.Seed())[:4]), fmt.Sprintf("%x", s.Seed()[:8]),
					base64.StdEncoding.EncodeToString(s.Seed())[:12])
			case *ecdsa.PrivateKey:
				d, _ := s.Bytes()
				secrets = append(secrets, s.D.String()[:12], fmt.Sprintf("%x", d[:8]))
			case *rsa.PrivateKey:
				secrets = append(secrets, s.D.String()[:12], s.Primes[0].String()[:12])
			}
			secrets = append(secrets, base64.StdEncoding.EncodeToString(der)[40:60])

			type holder struct {
				Key PrivateKey
				key PrivateKey
			}
			var logBuf bytes.Buffer
			slog.New(slog.NewTextHandler(&logBuf, nil)).Info("k", "key", k)
			slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("k", "key", k, "h", holder{k, k})
			j := must(json.Marshal(holder{Key: k}))(t)
			txt, _ := k.MarshalText()
			outs := []string{
				k.String(), k.GoString(), string(txt), string(j), logBuf.String(),
				fmt.Sprint(k), fmt.Sprintf("%v|%+v|%#v|%s|%q|%x|%X|%d|%T", k, k, k, k, k, k, k, k, k),
				fmt.Sprintf("%v|%+v|%#v", holder{k, k}, holder{k, k}, &holder{k, k}),
				fmt.Sprintf("%v %+v", []PrivateKey{k}, map[string]PrivateKey{"a": k}),
			}
			for _, out := range outs {
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Fatalf("key material %q revealed in %q", s, out)
					}
				}
			}
			if k.String() != "[redacted]" || string(j) != `{"Key":"[redacted]"}` {
				t.Fatalf("String = %q, JSON = %s", k.String(), j)
			}
		})
	}
}

func TestPublicKeyAccessors(t *testing.T) {
	ks := asymKeys(t)
	p := ks.ed.Public()
	if p.String() != `EdDSA public key "ed-1"` || p.withID("").String() != "EdDSA public key" || (PublicKey{}).String() != "no public key" {
		t.Fatalf("String = %q", p.String())
	}
	if !p.equal(p.withID("other")) || p.equal(ks.ed2.Public()) || p.equal(PublicKey{}) || !(PublicKey{}).equal(PublicKey{}) {
		t.Fatal("Equal is wrong")
	}
	if (PrivateKey{}).Public() != (PublicKey{}) || !(PrivateKey{}).isZero() || (PrivateKey{}).Signer() != nil || (PublicKey{}).Key() != nil {
		t.Fatal("zero keys are not empty")
	}
	// withID does not change the original.
	k2 := ks.ed.withID("new")
	if ks.ed.ID() != "ed-1" || k2.ID() != "new" || k2.Public().ID() != "new" {
		t.Fatal("withID changed the original or missed the public half")
	}
}

// An Ed25519 key given by pointer is the same key as given by value: it
// signs as a Go key (so it can be exported), not as an opaque signer.
func TestEd25519KeyByPointer(t *testing.T) {
	priv := asymKeys(t).ed.Signer().(ed25519.PrivateKey)
	byPtr := must(NewPrivateKey(&priv, "k"))(t)
	if _, err := MarshalPrivateKeyPEM(byPtr); err != nil {
		t.Fatalf("a key given by pointer cannot be exported: %v", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	pubByPtr := must(NewPublicKey(&pub, "k"))(t)
	if got, want := pubByPtr.Thumbprint(), byPtr.Public().Thumbprint(); got != want {
		t.Fatalf("thumbprints differ: %s vs %s", got, want)
	}
}

// A certificate given for a key says what to do with it, for either half:
// it used to be "unsupported PEM block type" for a public key, and
// ParsePrivateKey sent the caller to ParsePublicKey, which refused it so.
func TestParseCertificateSaysWhatToDo(t *testing.T) {
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})
	_, errPriv := parsePrivateKeyPEM(cert, "")
	_, errPub := parsePublicKeyPEM(cert, "")
	for _, err := range []error{errPriv, errPub} {
		if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "openssl x509 -pubkey -noout") {
			t.Errorf("certificate: %v, want ErrBadKey saying how to take its public key", err)
		}
	}
}
