// Package deadlist pages a listing of dead letters the way every outbox
// store lists them: by destination, then id, bytewise, from after a
// cursor, up to a limit. The stores that hold their dead letters in memory
// (the outbox's own and the JetStream index) page with [Page]; those that
// seek on disk or in SQL take only [Limit].
package deadlist

import (
	"cmp"
	"slices"

	"github.com/heraldhq/herald/internal/limits"
)

// Limit is how many dead letters a listing asked for n returns at most:
// n, or [limits.List] when n is zero or less.
func Limit(n int) int {
	if n <= 0 {
		return limits.List
	}
	return n
}

// Cursor is where a listing resumes: after the dead letter of this
// destination and id.
type Cursor struct{ Dest, ID string }

// Page returns, sorted by key (destination, then id), the rows of dest (of
// every destination when dest is empty) that sort after the cursor after
// (from the first when nil), at most Limit(limit) of them. It keeps only
// the rows it may return, in a heap, so that a page of 10 out of 100,000
// dead letters costs a pass and a few comparisons each, not a sort of them
// all: the stores call it with their lock held. It reuses rows' array.
func Page[T any](rows []T, key func(*T) (dest, id string), dest string, after *Cursor, limit int) []T {
	compare := func(a, b *T) int {
		ad, ai := key(a)
		bd, bi := key(b)
		return cmp.Or(cmp.Compare(ad, bd), cmp.Compare(ai, bi))
	}
	n := Limit(limit)
	// top is a heap of the least rows seen, greatest first. It grows by
	// at most one row per row read, so it never reaches a row not yet
	// read in the array they share.
	top := rows[:0]
	for i := range rows {
		d, id := key(&rows[i])
		if dest != "" && d != dest || after != nil && cmp.Or(cmp.Compare(d, after.Dest), cmp.Compare(id, after.ID)) <= 0 {
			continue
		}
		switch {
		case len(top) < n:
			top = append(top, rows[i])
			up(top, len(top)-1, compare)
		case compare(&rows[i], &top[0]) < 0:
			top[0] = rows[i]
			down(top, 0, compare)
		}
	}
	clear(rows[len(top):]) // let the rows left out go
	slices.SortFunc(top, func(a, b T) int { return compare(&a, &b) })
	return top
}

// up restores the heap h (greatest first) after its element i rose.
func up[T any](h []T, i int, compare func(a, b *T) int) {
	for i > 0 {
		p := (i - 1) / 2
		if compare(&h[i], &h[p]) <= 0 {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

// down restores the heap h (greatest first) after its element i fell.
func down[T any](h []T, i int, compare func(a, b *T) int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && compare(&h[c+1], &h[c]) > 0 {
			c++
		}
		if compare(&h[c], &h[i]) <= 0 {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}
