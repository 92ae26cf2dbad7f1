package wire

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLen bounds a partition key, in bytes.
const MaxKeyLen = 256

// CheckKey reports whether key can be a partition key, the key under which
// an ordered destination receives deliveries one at a time: empty (no key),
// or at most [MaxKeyLen] bytes of valid UTF-8 without control characters.
// The listener checks event keys with it, and the outbox delivery keys, so
// that what one accepts the other stores; stores rely on it holding no NUL.
func CheckKey(key string) error {
	if len(key) > MaxKeyLen {
		return fmt.Errorf("partition key longer than %d bytes", MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return errors.New("partition key is not valid UTF-8")
	}
	for i, r := range key {
		if unicode.IsControl(r) {
			return fmt.Errorf("partition key holds a control character at offset %d", i)
		}
	}
	return nil
}
