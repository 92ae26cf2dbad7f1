package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// kmsSigner stands for a key in a KMS: a crypto.Signer of herald's own
// making, not one of Go's key types, that counts its calls and can be
// made to fail or to answer garbage.
type kmsSigner struct {
	key   crypto.Signer
	calls atomic.Int64
	fail  error  // returned by Sign when set
	reply []byte // answered by Sign when set
}

func (k *kmsSigner) Public() crypto.PublicKey { return k.key.Public() }

func (k *kmsSigner) Sign(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	k.calls.Add(1)
	if k.fail != nil {
		return nil, k.fail
	}
	if k.reply != nil {
		return k.reply, nil
	}
	return k.key.Sign(r, msg, opts)
}

// TestOpaqueSignerSignsEveryAsymmetricScheme signs with keys reached only
// through a crypto.Signer (EdDSA, ES256, RS256) and verifies with the
// unchanged verifiers built from the public keys, and checks that every
// signature was made by the signer.
func TestOpaqueSignerSignsEveryAsymmetricScheme(t *testing.T) {
	ks := asymKeys(t)
	for _, native := range []PrivateKey{ks.ed, ks.ec, ks.rsa} {
		t.Run(native.Algorithm(), func(t *testing.T) {
			kms := &kmsSigner{key: native.Signer()}
			key := must(NewPrivateKey(kms, "kms-1"))(t)
			if key.Algorithm() != native.Algorithm() || !key.Public().equal(native.Public()) {
				t.Fatalf("key is %s, public key equal %v; want %s and equal", key.Algorithm(), key.Public().equal(native.Public()), native.Algorithm())
			}
			signer := must(NewJWTSigner([]PrivateKey{key}, WithClock(asymClock)))(t)
			verifier := must(NewJWTVerifier(PublicKeys{native.Public().withID("kms-1")}, WithClock(asymClock)))(t)
			m := asymMsg()
			h := signed(t, signer, m)
			if v, err := verifier.Verify(h, m.Body); err != nil || v.KeyID != "kms-1" {
				t.Fatalf("Verify = %+v, %v", v, err)
			}
			if _, err := verifier.Verify(h, []byte("{}")); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify of another body = %v, want ErrBadSignature", err)
			}
			if n := kms.calls.Load(); n != 1 {
				t.Fatalf("the signer was called %d times, want 1", n)
			}
		})
	}
}

// TestOpaqueSignerV1aMatchesTheKeyItself: Ed25519 is deterministic, so a
// v1a signature made through the signer is byte for byte the one the key
// itself makes, and verifies with the public key.
func TestOpaqueSignerV1aMatchesTheKeyItself(t *testing.T) {
	ks := asymKeys(t)
	kms := &kmsSigner{key: ks.ed.Signer()}
	key := must(NewPrivateKey(kms, ""))(t)
	viaKMS := must(NewStandardV1a([]PrivateKey{key, ks.ed2}, WithClock(asymClock)))(t)
	direct := must(NewStandardV1a([]PrivateKey{ks.ed, ks.ed2}, WithClock(asymClock)))(t)
	m := asymMsg()
	h1, h2 := http.Header{}, http.Header{}
	if err := viaKMS.Sign(h1, m); err != nil {
		t.Fatal(err)
	}
	if err := direct.Sign(h2, m); err != nil {
		t.Fatal(err)
	}
	if a, b := h1.Get(HeaderWebhookSignature), h2.Get(HeaderWebhookSignature); a != b {
		t.Fatalf("signature through the signer %q, by the key %q", a, b)
	}
	verifier := must(NewStandardV1aVerifier([]PublicKey{ks.ed.Public()}, WithClock(asymClock)))(t)
	if _, err := verifier.Verify(h1, m.Body); err != nil {
		t.Fatal(err)
	}
	if n := kms.calls.Load(); n != 1 {
		t.Fatalf("the signer was called %d times, want 1", n)
	}
}

// TestOpaqueSignerFailures: a signer that fails, or answers something that
// is not a signature, makes Sign fail with an error (never a panic, never
// a bad signature sent); keys of other kinds are refused at construction;
// a key in a KMS cannot be exported.
func TestOpaqueSignerFailures(t *testing.T) {
	ks := asymKeys(t)
	m := asymMsg()
	for _, c := range []struct {
		name string
		kms  *kmsSigner
	}{
		{"ed fails", &kmsSigner{key: ks.ed.Signer(), fail: errors.New("kms unavailable")}},
		{"ed short", &kmsSigner{key: ks.ed.Signer(), reply: []byte("short")}},
		{"ec fails", &kmsSigner{key: ks.ec.Signer(), fail: errors.New("kms unavailable")}},
		{"ec not DER", &kmsSigner{key: ks.ec.Signer(), reply: make([]byte, 64)}},
		{"rsa fails", &kmsSigner{key: ks.rsa.Signer(), fail: errors.New("kms unavailable")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			key := must(NewPrivateKey(c.kms, ""))(t)
			j := must(NewJWTSigner([]PrivateKey{key}))(t)
			if err := j.Sign(http.Header{}, m); err == nil {
				t.Fatal("JWT Sign succeeded")
			}
			if key.Algorithm() != algEdDSA {
				return
			}
			v1a := must(NewStandardV1a([]PrivateKey{key}))(t)
			h := http.Header{}
			if err := v1a.Sign(h, m); err == nil || h.Get(HeaderWebhookSignature) != "" {
				t.Fatalf("v1a Sign = %v, header %q; want an error and no signature", err, h.Get(HeaderWebhookSignature))
			}
		})
	}

	p384 := must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))(t)
	if _, err := NewPrivateKey(&kmsSigner{key: p384}, ""); !errors.Is(err, ErrBadKey) {
		t.Fatalf("P-384 signer: %v, want ErrBadKey", err)
	}
	var nilSigner *kmsSigner // its Public method dereferences nil
	if _, err := NewPrivateKey(nilSigner, ""); !errors.Is(err, ErrBadKey) {
		t.Fatalf("nil signer: %v, want ErrBadKey", err)
	}
	edKMS := must(NewPrivateKey(&kmsSigner{key: ks.ed.Signer()}, ""))(t)
	if _, err := MarshalPrivateKeyPEM(edKMS); !errors.Is(err, ErrBadKey) {
		t.Fatalf("MarshalPrivateKeyPEM: %v, want ErrBadKey", err)
	}
	if _, err := FormatStandardSigningKey(edKMS); !errors.Is(err, ErrBadKey) {
		t.Fatalf("FormatStandardSigningKey: %v, want ErrBadKey", err)
	}
	if _, err := NewStandardV1a([]PrivateKey{mustOpaque(t, ks.ec)}); !errors.Is(err, ErrBadKey) {
		t.Fatalf("v1a with an ES256 signer: %v, want ErrBadKey", err)
	}
}

func mustOpaque(t *testing.T, k PrivateKey) PrivateKey {
	t.Helper()
	o := must(NewPrivateKey(&kmsSigner{key: k.Signer()}, k.ID()))(t)
	return o
}

// FuzzECDSAJOSE: whatever a signer answers, ecdsaJOSE returns 64 bytes or
// an error, never a panic.
func FuzzECDSAJOSE(f *testing.F) {
	ks := asymKeys(f)
	der := must(ks.ec.Signer().Sign(rand.Reader, make([]byte, 32), crypto.SHA256))(f)
	f.Add(der)
	f.Add([]byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := ecdsaJOSE(b)
		if err == nil && len(out) != 64 {
			t.Fatalf("%d bytes", len(out))
		}
	})
}
