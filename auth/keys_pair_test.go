package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"math/big"
	"testing"

	"github.com/heraldhq/herald/auth"
)

// TestNewPrivateKeyHalvesOfOnePair: a Go private key whose private half is
// not the one of its public half (built by hand, or from two keys) signed
// every message with an error (RSA) or, worse, with a signature no verifier
// given its public half accepts (Ed25519, ECDSA): every delivery was
// refused by its receiver. NewPrivateKey now refuses it with ErrBadKey.
func TestNewPrivateKeyHalvesOfOnePair(t *testing.T) {
	r1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	e1, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edMix := append(ed25519.PrivateKey(nil), ed...)
	edMix[ed25519.SeedSize] ^= 1 // another public half
	rsaMix := &rsa.PrivateKey{PublicKey: r1.PublicKey, D: r2.D, Primes: r2.Primes}
	rsaMixNoPrimes := &rsa.PrivateKey{PublicKey: r1.PublicKey, D: r2.D}

	bad := map[string]crypto.Signer{
		"Ed25519 zero":                 ed25519.PrivateKey(make([]byte, ed25519.PrivateKeySize)),
		"Ed25519 other public half":    edMix,
		"ECDSA other scalar":           &ecdsa.PrivateKey{PublicKey: e1.PublicKey, D: new(big.Int).Set(e2.D)},
		"RSA no private exponent":      &rsa.PrivateKey{PublicKey: r1.PublicKey},
		"RSA other primes":             rsaMix,
		"RSA other exponent no primes": rsaMixNoPrimes,
	}
	for name, key := range bad {
		if _, err := auth.NewPrivateKey(key, "k"); !errors.Is(err, auth.ErrBadKey) {
			t.Errorf("%s: NewPrivateKey = %v, want ErrBadKey", name, err)
		}
	}
	good := map[string]crypto.Signer{
		"Ed25519":         ed,
		"ECDSA":           e1,
		"RSA":             r1,
		"RSA sans primes": &rsa.PrivateKey{PublicKey: r2.PublicKey, D: r2.D},
	}
	for name, key := range good {
		if _, err := auth.NewPrivateKey(key, "k"); err != nil {
			t.Errorf("%s: NewPrivateKey = %v, want nil", name, err)
		}
	}
}
