package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
)

// An opaque signer is a crypto.Signer that is not one of Go's own private
// key types: a key held in a KMS or an HSM, reached through its Sign method
// only. This file holds what signing with one takes.

// errNotExportable refuses to encode a key that its store keeps.
var errNotExportable = fmt.Errorf("%w: the key is held by its crypto.Signer (a KMS or HSM) and cannot be exported", ErrBadKey)

// opaqueSignerPublic returns the public half of an opaque signer, checked as
// [NewPublicKey] checks keys, with the key ID id. A signer whose Public
// method panics (a nil pointer of the caller's type) is refused, not
// followed into the panic.
func opaqueSignerPublic(key crypto.Signer, id string) (pub PublicKey, err error) {
	defer func() {
		if recover() != nil {
			pub, err = PublicKey{}, fmt.Errorf("auth: %w: the %T signer failed to give its public key", ErrBadKey, key)
		}
	}()
	p, err := NewPublicKey(key.Public(), id)
	if err != nil {
		return PublicKey{}, fmt.Errorf("auth: %w: the %T signer's public key is not Ed25519, ECDSA P-256 or RSA of 2048 to 8192 bits", ErrBadKey, key)
	}
	return p, nil
}

// signEd25519 signs content with an Ed25519 crypto.Signer, as
// ed25519.PrivateKey.Sign does: over the whole message, unhashed. A signer
// that answers anything but 64 bytes fails with [ErrBadKey], rather than
// sending a signature no receiver accepts.
func signEd25519(s crypto.Signer, content []byte) ([]byte, error) {
	sig, err := s.Sign(rand.Reader, content, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("the key's signer failed: %w", err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: the key's signer answered %d bytes, not an Ed25519 signature", ErrBadKey, len(sig))
	}
	return sig, nil
}

// opaqueMethod is the golang-jwt signing method of an opaque signer:
// golang-jwt's ES256 and RS256 want Go's key types, and its EdDSA does not
// check what the signer answers. EdDSA signs the signing input as it is;
// ES256 and RS256 hash it with SHA-256 and hand the digest to the signer;
// an ES256 signature comes back as ASN.1 DER and is sent as the fixed
// 64-byte r||s of JWS (RFC 7518 section 3.4). It is used to sign only;
// verification goes through golang-jwt's registered methods.
type opaqueMethod struct{ alg string }

// Alg returns the JWT algorithm name.
func (m opaqueMethod) Alg() string { return m.alg }

// Verify checks a signature as golang-jwt's method for the algorithm does.
func (m opaqueMethod) Verify(signingString string, sig []byte, key any) error {
	return jwt.GetSigningMethod(m.alg).Verify(signingString, sig, key)
}

// Sign signs signingString with key, a crypto.Signer.
func (m opaqueMethod) Sign(signingString string, key any) ([]byte, error) {
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s wants a crypto.Signer", jwt.ErrInvalidKeyType, m.alg)
	}
	if m.alg == algEdDSA {
		return signEd25519(s, []byte(signingString))
	}
	digest := sha256.Sum256([]byte(signingString))
	sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("the key's signer failed: %w", err)
	}
	if m.alg != algES256 {
		return sig, nil
	}
	return ecdsaJOSE(sig)
}

// ecdsaJOSE turns an ASN.1 DER ECDSA P-256 signature into the 64 bytes of
// r and s, big-endian and zero-padded, that JWS carries.
func ecdsaJOSE(der []byte) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil ||
		rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return nil, fmt.Errorf("%w: the key's signer answered no ASN.1 ECDSA P-256 signature", ErrBadKey)
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}

// isGoPrivateKey reports whether k is one of Go's own private key types,
// the ones this package can encode and hand to golang-jwt as they are.
func isGoPrivateKey(k crypto.Signer) bool {
	switch k.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey:
		return true
	}
	return false
}
