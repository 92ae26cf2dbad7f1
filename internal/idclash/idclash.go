// Package idclash words, for every store of the outbox, the refusal of a
// delivery whose id the outbox holds (or the same Put gives) for another
// destination, and finds such ids within one Put. A Put that dropped it as
// held, as it drops one of the same id and destination, would lose that
// delivery without a word.
package idclash

import (
	"context"
	"fmt"
)

// Err is the error of a Put that gives the delivery id for dest while the
// outbox holds it, or the Put gave it first, for held. It wraps invalid
// (outbox.ErrInvalid, which this package cannot import) and names the id
// and both destinations, never a body.
func Err(invalid error, id, held, dest string) error {
	return fmt.Errorf("%w: delivery id %q is held for destination %q, not %q: give each destination's delivery an id of its own",
		invalid, id, held, dest)
}

// smallBatch is the size of batch up to which InBatch compares every pair
// rather than build a map.
const smallBatch = 8

// Batch starts a store's Put of n deliveries, at(i) returning the id and
// destination of the i-th: for none, it returns ctx's error (nothing to
// write, but a caller whose context ended hears so, as from any Put);
// otherwise what [InBatch] returns.
func Batch(ctx context.Context, invalid error, n int, at func(i int) (id, dest string)) (repeats []bool, err error) {
	if n == 0 {
		return nil, ctx.Err()
	}
	return InBatch(invalid, n, at)
}

// InBatch checks the ids of one Put of n deliveries, at(i) returning the
// id and destination of the i-th. It returns the error of [Err] for the
// first that gives an id an earlier one gives for another destination, and
// otherwise whether each repeats an earlier one's id (nil when none does):
// the store drops those, as held.
func InBatch(invalid error, n int, at func(i int) (id, dest string)) (repeats []bool, err error) {
	if n < 2 {
		return nil, nil
	}
	earlier := func(i int) (int, bool) {
		id, _ := at(i)
		for j := range i {
			if jid, _ := at(j); jid == id {
				return j, true
			}
		}
		return 0, false
	}
	var seen map[string]int
	if n > smallBatch {
		seen = make(map[string]int, n)
		earlier = func(i int) (int, bool) {
			id, _ := at(i)
			j, ok := seen[id]
			if !ok {
				seen[id] = i
			}
			return j, ok
		}
	}
	for i := range n {
		j, ok := earlier(i)
		if !ok {
			continue
		}
		id, dest := at(i)
		if _, held := at(j); held != dest {
			return nil, Err(invalid, id, held, dest)
		}
		if repeats == nil {
			repeats = make([]bool, n)
		}
		repeats[i] = true
	}
	return repeats, nil
}
