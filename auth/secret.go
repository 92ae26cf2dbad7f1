package auth

import (
	"fmt"
	"log/slog"
)

// redacted is what every key type prints instead of itself.
const redacted = "[redacted]"

// A Secret is HMAC key material. It never prints itself: String, GoString,
// every fmt verb, JSON, text marshalling and slog all show "[redacted]".
// The zero Secret is empty, and constructors refuse empty keys.
type Secret struct {
	b []byte
}

// NewSecret returns a Secret holding a copy of key.
func NewSecret(key []byte) Secret {
	return Secret{b: append([]byte(nil), key...)}
}

// Bytes returns the raw key material. The slice is shared: do not modify it.
// It is the one deliberate way to reveal a Secret.
func (s Secret) Bytes() []byte { return s.b }

// Len reports the key length in bytes.
func (s Secret) Len() int { return len(s.b) }

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]", so %#v does not reveal the key either.
func (s Secret) GoString() string { return redacted }

// Format prints "[redacted]" for every verb and flag.
func (s Secret) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON encodes the secret as the JSON string "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText encodes the secret as "[redacted]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue makes slog print "[redacted]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
