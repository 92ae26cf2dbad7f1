// Package limits holds the bounds on what an outbox stores, shared by the
// outbox package (which checks deliveries before Put and cuts texts before
// Settle), its stores (whose record formats rely on them) and cmd/herald.
// The outbox package documents the values; changing one changes the
// record formats.
package limits

import (
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/wire"
)

// Bounds, in bytes.
const (
	ID     = wire.MaxIDLen // a delivery or event id
	Name   = 256           // a destination name
	Topic  = 1024          // a topic or content type
	Body   = 32 << 20      // a body
	Reason = 1024          // an error or reason text; longer ones are cut
)

// List caps a dead letter listing whose limit is zero.
const List = 1000

// Clip cuts s to at most [Reason] bytes on a rune boundary.
func Clip(s string) string {
	if len(s) <= Reason {
		return s
	}
	s = s[:Reason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
