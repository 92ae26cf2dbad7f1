package auth

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

// Prefixes of Standard Webhooks key strings.
const (
	standardSigningKeyPrefix = "whsk_"  // Ed25519 private key (v1a)
	standardPublicKeyPrefix  = "whpk_"  // Ed25519 public key (v1a)
	standardSecretPrefix     = "whsec_" // HMAC secret (v1)
)

// maxStandardKeyLen bounds a whsk_/whpk_ string before decoding: base64 of
// 64 bytes is 88 characters.
const maxStandardKeyLen = 128

// errNotEd25519 is returned when a Standard Webhooks key string is asked of
// an ECDSA or RSA key.
var errNotEd25519 = fmt.Errorf("auth: %w: Standard Webhooks v1a keys are Ed25519 (EdDSA)", ErrBadKey)

// parseStandardSigningKey parses a Standard Webhooks v1a signing key,
// "whsk_" followed by the standard base64 of the Ed25519 private key: the
// 64-byte seed-and-public-key form that libsodium and Svix use, or the bare
// 32-byte seed. The key ID is its RFC 7638 thumbprint, as for
// [ParsePrivateKey]; set another with [NewPrivateKey].
// Errors wrap [ErrBadKey] and never echo the input.
func parseStandardSigningKey(s string) (PrivateKey, error) {
	b, err := decodeStandardKey(s, standardSigningKeyPrefix)
	if err != nil {
		return PrivateKey{}, err
	}
	var priv ed25519.PrivateKey
	switch len(b) {
	case ed25519.SeedSize:
		priv = ed25519.NewKeyFromSeed(b)
	case ed25519.PrivateKeySize:
		priv = ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if subtle.ConstantTimeCompare(priv[ed25519.SeedSize:], b[ed25519.SeedSize:]) != 1 {
			return PrivateKey{}, fmt.Errorf("auth: %w: whsk_ key: its public half does not match its seed", ErrBadKey)
		}
	default:
		return PrivateKey{}, fmt.Errorf("auth: %w: whsk_ key decodes to %d bytes, want %d or %d", ErrBadKey, len(b), ed25519.SeedSize, ed25519.PrivateKeySize)
	}
	clear(b)
	return namedPrivateKey(priv, "")
}

// parseStandardPublicKey parses a Standard Webhooks v1a public key, "whpk_"
// followed by the standard base64 of the 32-byte Ed25519 public key. The key
// ID is its RFC 7638 thumbprint; set another with [NewPublicKey]. Errors wrap [ErrBadKey].
func parseStandardPublicKey(s string) (PublicKey, error) {
	b, err := decodeStandardKey(s, standardPublicKeyPrefix)
	if err != nil {
		return PublicKey{}, err
	}
	if len(b) != ed25519.PublicKeySize {
		return PublicKey{}, fmt.Errorf("auth: %w: whpk_ key decodes to %d bytes, want %d", ErrBadKey, len(b), ed25519.PublicKeySize)
	}
	return namedPublicKey(ed25519.PublicKey(b), "")
}

// FormatStandardSigningKey encodes an Ed25519 key as a Standard Webhooks
// signing key: "whsk_" and the standard base64 of the 64-byte private key
// (seed then public key). Other key types fail with [ErrBadKey].
func FormatStandardSigningKey(k PrivateKey) (string, error) {
	priv, ok := k.Signer().(ed25519.PrivateKey)
	if !ok {
		if k.isZero() {
			return "", fmt.Errorf("auth: %w: no private key", ErrBadKey)
		}
		if k.Algorithm() == algEdDSA {
			return "", fmt.Errorf("auth: %w", errNotExportable)
		}
		return "", errNotEd25519
	}
	return standardSigningKeyPrefix + base64.StdEncoding.EncodeToString(priv), nil
}

// FormatStandardPublicKey encodes an Ed25519 key as a Standard Webhooks
// public key: "whpk_" and the standard base64 of its 32 bytes. Other key
// types fail with [ErrBadKey].
func FormatStandardPublicKey(k PublicKey) (string, error) {
	pub, ok := k.Key().(ed25519.PublicKey)
	if !ok {
		if k.isZero() {
			return "", fmt.Errorf("auth: %w: no public key", ErrBadKey)
		}
		return "", errNotEd25519
	}
	return standardPublicKeyPrefix + base64.StdEncoding.EncodeToString(pub), nil
}

// decodeStandardKey checks that s carries prefix and decodes the base64
// after it (padded or not). It recognises the other Standard Webhooks
// prefixes to say what the caller has in hand instead.
func decodeStandardKey(s, prefix string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, " \t\r\n") {
		// Such as a file holding what herald keygen prints for v1a: the
		// whsk_ key, then its whpk_ public key on the next line.
		return nil, fmt.Errorf("auth: %w: %s key holds a space or line break: give one key per line, alone (keygen prints the whsk_ and whpk_ keys on two lines)", ErrBadKey, prefix)
	}
	if len(s) > maxStandardKeyLen {
		return nil, fmt.Errorf("auth: %w: %s key longer than %d characters", ErrBadKey, prefix, maxStandardKeyLen)
	}
	if !strings.HasPrefix(s, prefix) {
		switch {
		case strings.HasPrefix(s, standardSecretPrefix):
			return nil, fmt.Errorf("auth: %w: a whsec_ value is an HMAC secret for the %q scheme (NewStandard), not a v1a Ed25519 key", ErrBadKey, schemeStandard)
		case strings.HasPrefix(s, standardPublicKeyPrefix):
			return nil, fmt.Errorf("auth: %w: a whpk_ value is a v1a public key: it verifies (parseStandardPublicKey) but cannot sign", ErrBadKey)
		case strings.HasPrefix(s, standardSigningKeyPrefix):
			return nil, fmt.Errorf("auth: %w: a whsk_ value is a v1a private signing key; a verifier needs only its whpk_ public key", ErrBadKey)
		case s == "":
			return nil, fmt.Errorf("auth: %w: empty key", ErrBadKey)
		}
		return nil, fmt.Errorf("auth: %w: key does not start with %q", ErrBadKey, prefix)
	}
	enc := s[len(prefix):]
	b, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		b, err = base64.RawStdEncoding.Strict().DecodeString(enc)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: %w: %s key is not valid base64", ErrBadKey, prefix)
	}
	return b, nil
}
