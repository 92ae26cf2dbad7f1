package sender

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/google/uuid"
)

// idEntropySize is how many random bytes an idEntropy buffer holds: one
// read from crypto/rand serves 409 ids.
const idEntropySize = 4096

// idEntropy is a buffer of random bytes from crypto/rand, handed out 10 at a
// time. Each buffer belongs to one goroutine at a time (through
// idEntropyPool), and bytes are never handed out twice.
type idEntropy struct {
	buf [idEntropySize]byte
	off int
}

// idEntropyPool holds *idEntropy buffers, refilled when used up.
var idEntropyPool = sync.Pool{New: func() any { return &idEntropy{off: idEntropySize} }}

// newID returns a new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds,
// then 74 random bits, so that ids sort by creation time. The random bits
// come from crypto/rand, read 4 KiB at a time into pooled buffers rather
// than once per id (a read costs about as much as the rest of a delivery's
// id); unlike uuid.NewV7, there is no global lock.
func newID(now time.Time) string {
	const n = 10 // random bytes per id: 74 bits, rounded up
	e := idEntropyPool.Get().(*idEntropy)
	if e.off+n > len(e.buf) {
		rand.Read(e.buf[:]) // never fails since Go 1.24: it crashes the program instead
		e.off = 0
	}
	var u uuid.UUID
	copy(u[6:], e.buf[e.off:e.off+n])
	clear(e.buf[e.off : e.off+n])
	e.off += n
	idEntropyPool.Put(e)
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now.UnixMilli()))
	copy(u[:6], ts[2:])
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	return u.String()
}
