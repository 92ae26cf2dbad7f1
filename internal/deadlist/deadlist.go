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

// Page sorts rows by key (destination, then id) and returns those of dest
// (of every destination when dest is empty) that sort after the cursor
// after (from the first when nil), at most Limit(limit) of them. It
// reuses rows' array.
func Page[T any](rows []T, key func(*T) (dest, id string), dest string, after *T, limit int) []T {
	compare := func(a, b *T) int {
		ad, ai := key(a)
		bd, bi := key(b)
		return cmp.Or(cmp.Compare(ad, bd), cmp.Compare(ai, bi))
	}
	out := rows[:0]
	for i := range rows {
		if d, _ := key(&rows[i]); dest != "" && d != dest || after != nil && compare(&rows[i], after) <= 0 {
			continue
		}
		out = append(out, rows[i])
	}
	slices.SortFunc(out, func(a, b T) int { return compare(&a, &b) })
	return out[:min(len(out), Limit(limit))]
}
