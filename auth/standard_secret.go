package auth

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
)

// Standard Webhooks secret format.
const (
	// standardV1SecretPrefix starts a Standard Webhooks v1 secret.
	standardV1SecretPrefix = "whsec_"
	// minStandardSecretLen is the shortest v1 secret, in bytes, that
	// [ParseStandardSecret] and [NewStandard] accept (the specification
	// asks for 24 to 64 bytes).
	minStandardSecretLen = 24
	// maxStandardSecretLen is the longest secret [ParseStandardSecret] accepts.
	maxStandardSecretLen = 64
	// maxStandardSecretText bounds the text ParseStandardSecret decodes.
	maxStandardSecretText = 256
)

// ParseStandardSecret decodes a Standard Webhooks v1 secret, "whsec_"
// followed by standard base64 of 24 to 64 random bytes. The prefix may be
// left out, as the reference libraries allow, and surrounding spaces are
// ignored. Errors wrap [ErrBadKey] and say what looks wrong without
// repeating the value: a v1 signature or a v1a (Ed25519) key given by
// mistake, bad base64, a bad length.
func ParseStandardSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Secret{}, fmt.Errorf("auth: standard: %w: empty secret", ErrBadKey)
	case len(s) > maxStandardSecretText:
		return Secret{}, fmt.Errorf("auth: standard: %w: secret text longer than %d bytes", ErrBadKey, maxStandardSecretText)
	case strings.HasPrefix(s, "v1,") || strings.HasPrefix(s, "v1a,"):
		return Secret{}, fmt.Errorf("auth: standard: %w: this looks like a webhook-signature value, not a whsec_ secret", ErrBadKey)
	case strings.HasPrefix(s, "whsk_") || strings.HasPrefix(s, "whpk_"):
		return Secret{}, fmt.Errorf("auth: standard: %w: this is an Ed25519 key for the %s scheme, not a whsec_ secret", ErrBadKey, schemeStandardV1a)
	}
	s = strings.TrimPrefix(s, standardV1SecretPrefix)
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.Strict().DecodeString(s)
	if err != nil {
		return Secret{}, fmt.Errorf("auth: standard: %w: secret is not valid standard base64 after the whsec_ prefix", ErrBadKey)
	}
	if len(b) < minStandardSecretLen || len(b) > maxStandardSecretLen {
		return Secret{}, fmt.Errorf("auth: standard: %w: secret decodes to %d bytes, need %d to %d", ErrBadKey, len(b), minStandardSecretLen, maxStandardSecretLen)
	}
	return Secret{b: seal(b)}, nil
}

// GenerateStandardSecret returns a new random 32-byte secret for the
// Standard Webhooks v1 scheme. Share it with [FormatStandardSecret].
func GenerateStandardSecret() (Secret, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Secret{}, fmt.Errorf("auth: standard: generate secret: %w", err)
	}
	return Secret{b: seal(b)}, nil
}

// FormatStandardSecret returns s as "whsec_" followed by its standard
// base64 encoding, the form receivers paste into their configuration. It is
// a deliberate reveal of the key: do not log the result.
func FormatStandardSecret(s Secret) string {
	return standardV1SecretPrefix + base64.StdEncoding.EncodeToString(s.Bytes())
}
