package httpserver

import (
	"encoding/binary"
	"math"
	"testing"
)

// FuzzBodies: the declared lengths of clients' bodies (Content-Length,
// int64 edges included, -1 when unknown) taken against any positive
// limit: the first body always fits, what is held never goes negative nor
// over BodiesAtOnce bodies of the limit, and giving back all that was
// taken leaves nothing held.
func FuzzBodies(f *testing.F) {
	f.Add(int64(1<<20), binary.BigEndian.AppendUint64(nil, 1<<20))
	f.Add(int64(math.MaxInt64), binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, math.MaxUint64), 1<<63))
	f.Add(int64(1), make([]byte, 8*70))
	f.Add(int64(1023), binary.BigEndian.AppendUint64(nil, math.MaxInt64))
	f.Fuzz(func(t *testing.T, max int64, lengths []byte) {
		if max <= 0 {
			return // the handlers' limits are positive
		}
		var b Bodies
		room := int64(kib(max)) * BodiesAtOnce
		var taken []int32
		for i := 0; i+8 <= len(lengths); i += 8 {
			n := int64(binary.BigEndian.Uint64(lengths[i:]))
			k, ok := b.Take(n, max)
			held := int64(b.held)
			switch {
			case !ok && len(taken) == 0:
				t.Fatalf("the first body (%d bytes, limit %d) did not fit", n, max)
			case !ok && k != 0, k < 0, held < 0, held > room:
				t.Fatalf("Take(%d, %d) = %d, %v: %d KiB held, room %d", n, max, k, ok, held, room)
			}
			if ok {
				taken = append(taken, k)
			}
		}
		for _, k := range taken {
			b.Give(k)
		}
		if b.held != 0 {
			t.Fatalf("%d KiB held once every body was given back", b.held)
		}
	})
}
