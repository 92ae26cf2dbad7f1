package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/bodypool"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Lease leases due deliveries; see [outbox.Outbox.Lease]. It seeks the due
// bucket of each destination in turn, starting after the one it served
// last, skips those o.Allow refuses without reading them, and reads the
// records of the deliveries it leases as it walks past them. Within a
// destination it starts after the deliveries it knows are still leased
// (see skip).
func (s *store) Lease(ctx context.Context, o outbox.LeaseOptions) (out []outbox.Leased, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Lock order: closeMu before mu, as in submit and the committer; the
	// other order can deadlock against Close. mu is taken before the
	// transaction starts, so that a commit adding a due entry this
	// transaction does not see drops the skips only after this call has
	// set them (see Store.dropSkips).
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return nil, outbox.ErrClosed
	}
	if s.readOnly {
		return nil, errLeaseReadOnly
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Room for all it may lease, so that appending does not copy: a
	// Leased is large, and a lease of 32 grew its slice six times.
	out = make([]outbox.Leased, 0, max(0, min(int64(o.Max), s.pending.Load(), maxLeaseRoom)))
	err = guarded(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			b := buckets(tx)
			if b.err != nil {
				return b.err
			}
			return s.leaseAll(&b, o, &out)
		})
	})
	if err != nil {
		// Undo the leases of the failed call, and the skips that may
		// count on them.
		for _, l := range out {
			delete(s.leases, l.ID)
		}
		clear(s.skips)
		return nil, err
	}
	return out, nil
}

// errLeaseReadOnly refuses a Lease of a read-only store: its outcome could
// never be recorded, and a Queue would send the delivery again each time
// the lease ran out, for ever.
var errLeaseReadOnly = fmt.Errorf("%w: boltstore: a read-only store cannot lease, as it cannot record what becomes of a delivery", outbox.ErrInvalid)

// maxLeaseRoom caps the room Lease makes for its result in advance.
const maxLeaseRoom = 1024

// leaseAll is Lease within its transaction, with s.mu held.
func (s *store) leaseAll(b *bucketSet, o outbox.LeaseOptions, out *[]outbox.Leased) error {
	c := b.due.Cursor()
	// Visit destinations after lastDest, then wrap around to those up to
	// it.
	var k, v []byte
	if s.lastDest == "" {
		k, v = c.First()
	} else {
		k, v = c.Seek(destEnd([]byte(s.lastDest)))
	}
	start := s.lastDest
	wrapped := start == ""
	stop := []byte(start)
	for len(*out) < o.Max {
		if k == nil {
			if wrapped {
				break
			}
			wrapped = true
			if k, v = c.First(); k == nil {
				break
			}
		}
		dest, _, _, err := parseDueKey(k)
		if err != nil {
			return corruptIndex(err)
		}
		if wrapped && start != "" && bytes.Compare(dest, stop) > 0 {
			break
		}
		name := string(dest) // one copy, shared by the records leased
		n := o.Max - len(*out)
		if o.Allow != nil {
			n = min(n, o.Allow(name))
		}
		if n > 0 {
			before := len(*out)
			if err := s.leaseDest(c, k, v, name, n, o, out); err != nil {
				return err
			}
			if len(*out) > before {
				s.lastDest = name
			}
		}
		k, v = c.Seek(destEnd([]byte(name)))
	}
	return nil
}

// leaseDest leases up to n due deliveries of dest, whose first entry, k
// and v, is the cursor's position, and appends them to out. It starts at
// the destination's skip, if one holds, and leaves a skip after the
// entries it stepped past.
func (s *store) leaseDest(c *bolt.Cursor, k, v []byte, dest string, n int, o outbox.LeaseOptions, out *[]outbox.Leased) error {
	now := wire.Nanos(o.Now)
	sk, ok := s.skips[dest]
	if ok && o.Now.Before(sk.until) {
		if k, v = c.Seek(sk.key); bytes.Equal(k, sk.key) {
			k, v = c.Next()
		}
	} else {
		sk = skip{}
	}
	var last []byte // the last entry stepped past or leased
	for leased := 0; k != nil && leased < n; k, v = c.Next() {
		kdest, due, idb, err := parseDueKey(k)
		if err != nil {
			return corruptIndex(err)
		}
		if string(kdest) != dest || due > now {
			break
		}
		last = k
		if l, ok := s.leases[string(idb)]; ok && (l.busy || l.until.After(o.Now)) {
			sk.until = earliest(sk.until, l.until)
			continue
		}
		s.tokens++
		id, token := idToken(idb, s.tokens)
		r, body, err := decodeLeased(id, dest, v)
		if err != nil {
			return err
		}
		d := r.delivery(id)
		d.Body = lend(body) // bbolt's memory is valid only within the transaction
		l := &lease{token: token, until: o.Now.Add(o.TTL), rec: r}
		s.leases[id] = l
		sk.until = earliest(sk.until, l.until)
		*out = append(*out, outbox.Leased{Delivery: d, Token: l.token, Until: l.until})
		leased++
	}
	if last != nil {
		sk.key = bytes.Clone(last) // bbolt's memory is valid only within the transaction
		s.skips[dest] = sk
	}
	return nil
}

// lend returns a copy of body in a buffer from bodypool, which a Queue
// gives back once it has sent it (see LendsBodies); an empty body is
// copied as bytes.Clone copies it.
func lend(body []byte) []byte {
	if len(body) == 0 {
		return bytes.Clone(body)
	}
	b := bodypool.Get(len(body))
	copy(b, body)
	return b
}

// LendsBodies says that the bodies Lease returns are in buffers from
// bodypool, which a Queue gives back once it is done with them, so that
// a drain does not leave a body's worth of garbage per delivery. See
// [bodypool.Lender].
func (*store) LendsBodies() {}

// idToken returns the id idb as a string and the lease token numbered n
// ("b" and n in base 36), made in one allocation rather than two.
func idToken(idb []byte, n uint64) (id, token string) {
	var sb strings.Builder
	sb.Grow(len(idb) + 1 + 13) // 13 base-36 digits hold any uint64
	sb.Write(idb)
	sb.WriteByte('b')
	var tb [13]byte
	sb.Write(strconv.AppendUint(tb[:0], n, 36))
	both := sb.String()
	return both[:len(idb)], both[len(idb):]
}

// earliest returns the earlier of a and b, where a zero a means none yet.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// dropSkips drops the skips that an added due entry (by destination, the
// least key added) could precede. s.mu must be held.
func (s *store) dropSkips(added map[string][]byte) {
	for dest, k := range added {
		if sk, ok := s.skips[dest]; ok && bytes.Compare(k, sk.key) <= 0 {
			delete(s.skips, dest)
		}
	}
}

// closedNow reports whether Close was called.
func (s *store) closedNow() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	return s.closed
}
