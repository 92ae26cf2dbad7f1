package auth

import (
	"fmt"
	"log/slog"
)

// redacted is what every key type prints instead of itself.
const redacted = "[redacted]"

// sealed holds key material where reflection cannot reach it. fmt shows a
// func as an address whatever the verb and however deeply it is nested,
// encoding/json and slog never call it, and no Format method is needed:
// methods are not called on unexported fields, and %s or %q of a pointer
// makes fmt print what it points to, so neither a String method nor a
// pointer to an unexported type keeps a key from being printed by a struct
// that holds it. Every key, secret and credential in this package is held
// in a sealed; TestKeyMaterialNeverPrints checks it.
type sealed[T any] func() T

// seal returns a sealed holding v.
func seal[T any](v T) sealed[T] { return func() T { return v } }

// open returns the value held by s, or the zero T for a nil s.
func (s sealed[T]) open() T {
	if s == nil {
		var zero T
		return zero
	}
	return s()
}

// A Secret is HMAC key material. It never prints itself: String, GoString,
// every fmt verb, JSON, text marshalling and slog all show "[redacted]",
// and a struct holding a Secret in an unexported field shows no key either.
// The zero Secret is empty, and constructors refuse empty keys.
type Secret struct {
	redacting
	b sealed[[]byte]
}

// NewSecret returns a Secret holding a copy of key.
func NewSecret(key []byte) Secret {
	return Secret{b: seal(append([]byte(nil), key...))}
}

// Bytes returns the raw key material. The slice is shared: do not modify it.
// It is the one deliberate way to reveal a Secret.
func (s Secret) Bytes() []byte { return s.b.open() }

// size reports the key length in bytes.
func (s Secret) size() int { return len(s.b.open()) }

// redacting gives the key types embedding it (Secret, PrivateKey) one set
// of methods that print "[redacted]" under every formatter and logger, so
// that a new way of printing is covered for all of them in one place.
type redacting struct{}

// String returns "[redacted]".
func (redacting) String() string { return redacted }

// GoString returns "[redacted]", so %#v does not reveal the key either.
func (redacting) GoString() string { return redacted }

// Format prints "[redacted]" for every verb and flag.
func (redacting) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON encodes the key as the JSON string "[redacted]".
func (redacting) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText encodes the key as "[redacted]".
func (redacting) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue makes slog print "[redacted]".
func (redacting) LogValue() slog.Value { return slog.StringValue(redacted) }
