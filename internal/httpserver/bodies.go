package httpserver

import (
	"math"
	"sync/atomic"
)

// BodiesAtOnce is how many bodies of its largest size a handler holds in
// memory at once: a request beyond them is refused (503) before its body
// is read, rather than read too.
const BodiesAtOnce = 64

// Bodies bounds the memory the request bodies a handler reads into memory
// hold at once. Every request is read whole before it can be verified, so
// without a bound, clients that each send most of a large body and stall
// hold that much each, on as many connections as they open. Its zero
// value holds nothing. It counts KiB in an int32 used atomically: no
// alignment rule, and a handler holding one may be copied before use.
type Bodies struct{ held int32 }

// Take reserves room for a body of n bytes (n < 0: unknown, so max) when
// the bodies held stay within BodiesAtOnce bodies of max bytes, and
// returns what to pass to Give once the body is no longer held; ok is
// false, and nothing is taken, when there is no room.
func (b *Bodies) Take(n, max int64) (taken int32, ok bool) {
	if n < 0 || n > max {
		n = max
	}
	k, room := kib(n), kib(max)*BodiesAtOnce
	for {
		held := atomic.LoadInt32(&b.held)
		if held > room-k {
			return 0, false
		}
		if atomic.CompareAndSwapInt32(&b.held, held, held+k) {
			return k, true
		}
	}
}

// Give returns what Take took.
func (b *Bodies) Give(taken int32) { atomic.AddInt32(&b.held, -taken) }

// kib is n bytes in KiB, rounded up, and at most MaxInt32/BodiesAtOnce,
// so that the room of BodiesAtOnce of them fits an int32. It rounds up
// without adding to n, which would overflow near MaxInt64.
func kib(n int64) int32 {
	const most = math.MaxInt32 / BodiesAtOnce
	if n <= 0 {
		return 0
	}
	return int32(min(n/1024+min(n%1024, 1), most))
}
