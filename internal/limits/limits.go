// Package limits holds the bounds on what an outbox stores and on a Queue's
// workers, shared by the outbox package (which checks deliveries before Put
// and cuts texts before Settle), its stores (whose record formats rely on
// them) and cmd/herald.
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

// History caps the attempts a store keeps of one delivery: the newest
// are kept, and the oldest deleted as new ones are recorded. A delivery
// replayed again and again would otherwise grow without bound, and so would
// every History answer.
const History = 64

// List caps a dead letter listing whose limit is zero.
const List = 1000

// Workers caps a Queue's Workers and PerDestination, and the relay's
// --workers: each worker is a goroutine and 16 slots of the Queue's
// outcome channel, made up front.
const Workers = 10000

// Clip cuts s to at most [Reason] bytes, dropping a rune the cut split in
// two. Bytes that are not UTF-8 elsewhere in s stay: a text is never cut
// short before them (an empty attempt error would read as a success).
func Clip(s string) string {
	if len(s) <= Reason {
		return s
	}
	s = s[:Reason]
	for i := len(s) - 1; i >= 0 && i >= len(s)-utf8.UTFMax; i-- {
		if utf8.RuneStart(s[i]) {
			if !utf8.FullRuneInString(s[i:]) {
				s = s[:i]
			}
			break
		}
	}
	return s
}

// CountOn returns attempts plus the one just made, held at most: a store's
// counter stops at the largest count it can hold and read back, rather
// than wrap to a negative count or write one its reader refuses.
func CountOn(attempts, most int) int { return min(attempts, most-1) + 1 }
