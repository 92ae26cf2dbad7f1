// Package bodypool lends out the buffers that hold leased bodies, so that
// a durable outbox drained at thousands of deliveries a second does not
// leave a body's worth of garbage for each. A store that copies bodies out
// of its file takes their buffers with [Get] and says so with [Lender]; the
// Queue gives a buffer back with [Put] only once nothing can read it any
// more: the Sender has returned, and with it the Signer, and net/http,
// which may go on writing a request's body after RoundTrip returned (to a
// receiver that answered before it had read it all), has finished every
// write it began, as a [Watch] tells. A buffer given back too early would
// put another delivery's body, perhaps another customer's, on that
// connection; one never given back is only garbage.
package bodypool

import (
	"context"
	"math/bits"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
)

// The buffers lent are of a power-of-two size from minSize to maxSize; a
// larger body gets a buffer of its own, which is not given back.
const (
	minShift = 9  // 512 bytes
	maxShift = 16 // 64 KiB
)

// pools holds the buffers given back, one pool per size.
var pools [maxShift - minShift + 1]sync.Pool

// given counts the buffers given back to pools.
var given atomic.Int64

// Given returns how many buffers Put has given back to the pool so far,
// for tests that must show the buffers are given back at all.
func Given() int64 { return given.Load() }

// class returns the index in pools of the buffers that hold n bytes, or
// -1 when none is large enough.
func class(n int) int {
	switch {
	case n <= 1<<minShift:
		return 0
	case n > 1<<maxShift:
		return -1
	}
	return bits.Len(uint(n-1)) - minShift
}

// Get returns a buffer of length n, lent from the pool when one of its
// size is there. Its contents are not zeroed: copy the body over them.
func Get(n int) []byte {
	c := class(n)
	if c < 0 {
		return make([]byte, n)
	}
	if p, ok := pools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<(c+minShift))
}

// Put gives back b, which Get returned and which nothing reads or will
// read again. A buffer of another capacity than Get makes is dropped.
func Put(b []byte) {
	c := class(cap(b))
	if c < 0 || cap(b) != 1<<(c+minShift) {
		return
	}
	b = b[:0]
	pools[c].Put(&b)
	given.Add(1)
}

// Lender is implemented by a store whose Lease takes the buffers of the
// bodies it returns from [Get], so that the Queue may give them back. A
// store that wraps such a store does not pass the method on, and its
// bodies are then never given back: the safe way round.
type Lender interface {
	// LendsBodies does nothing: having it is what says so.
	LendsBodies()
}

// Watch counts, for every request made under a context from
// [Watch.Context], the connections net/http got for it and the writes of
// it that finished. net/http writes a request only on a connection it got
// for it, reports the write finished once it reads the body no more, and
// gets no connection for a request after RoundTrip returned; so once the
// calls that made requests have returned, equal counts mean that no write
// of any of them is still reading its body. The counts only grow: a write
// still running from an earlier call keeps them apart until it finishes,
// so one Watch serves one goroutine's calls one after another. Connections
// got for requests that were never written (a retry that failed to
// start) keep them apart for ever: the buffers are then left to the
// garbage collector, never given back.
type Watch struct {
	got, wrote atomic.Int64
	trace      httptrace.ClientTrace
	// base and ctx cache the last context made, so that a caller whose
	// context does not change makes it once.
	base, ctx context.Context
}

// NewWatch returns a Watch with nothing counted.
func NewWatch() *Watch {
	w := new(Watch)
	w.trace.GotConn = func(httptrace.GotConnInfo) { w.got.Add(1) }
	w.trace.WroteRequest = func(httptrace.WroteRequestInfo) { w.wrote.Add(1) }
	return w
}

// Context returns ctx with the Watch's trace, under which requests are
// counted. It must not be called from two goroutines at once, nor with a
// ctx that already holds this Watch's trace.
func (w *Watch) Context(ctx context.Context) context.Context {
	if ctx != w.base {
		w.base, w.ctx = ctx, httptrace.WithClientTrace(ctx, &w.trace)
	}
	return w.ctx
}

// Quiet reports whether every write of a request counted has finished.
// Call it once the calls that made them have returned.
func (w *Watch) Quiet() bool {
	return w.got.Load() == w.wrote.Load()
}
