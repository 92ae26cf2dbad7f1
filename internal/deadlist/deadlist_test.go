package deadlist

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"github.com/heraldhq/herald/internal/limits"
)

type row struct{ dest, id string }

func key(r *row) (string, string) { return r.dest, r.id }

// TestPage: rows come back sorted by destination then id, bytewise,
// restricted to a destination, after a cursor, and cut to the limit.
func TestPage(t *testing.T) {
	rows := func() []row {
		return []row{{"b", "1"}, {"a", "2"}, {"a", "10"}, {"B", "9"}, {"b", "0"}}
	}
	for _, c := range []struct {
		name  string
		dest  string
		after *Cursor
		limit int
		want  []row
	}{
		{"all", "", nil, 0, []row{{"B", "9"}, {"a", "10"}, {"a", "2"}, {"b", "0"}, {"b", "1"}}},
		{"one destination", "a", nil, 0, []row{{"a", "10"}, {"a", "2"}}},
		{"after a cursor", "", &Cursor{"a", "10"}, 0, []row{{"a", "2"}, {"b", "0"}, {"b", "1"}}},
		{"after a cursor of no row", "", &Cursor{"a", "3"}, 2, []row{{"b", "0"}, {"b", "1"}}},
		{"limit", "", nil, 2, []row{{"B", "9"}, {"a", "10"}}},
		{"destination, cursor and limit", "b", &Cursor{"a", "99"}, 1, []row{{"b", "0"}}},
		{"nothing after the last", "", &Cursor{"b", "1"}, 0, []row{}},
	} {
		if got := Page(rows(), key, c.dest, c.after, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestPageAgainstSort: the heap keeps the same rows as sorting them all,
// for every limit, cursor and destination over rows in any order.
func TestPageAgainstSort(t *testing.T) {
	var all []row
	for i := range 200 {
		all = append(all, row{string(rune('a' + i*7%5)), fmt.Sprint(i * 37 % 200)})
	}
	ref := func(dest string, after *Cursor, limit int) []row {
		var out []row
		for _, r := range all {
			if (dest == "" || r.dest == dest) && (after == nil || r.dest > after.Dest || r.dest == after.Dest && r.id > after.ID) {
				out = append(out, r)
			}
		}
		slices.SortFunc(out, func(a, b row) int { return cmp.Or(cmp.Compare(a.dest, b.dest), cmp.Compare(a.id, b.id)) })
		return out[:min(len(out), Limit(limit))]
	}
	for _, limit := range []int{1, 2, 3, 7, 50, 199, 200, 500} {
		for _, dest := range []string{"", "a", "c", "z"} {
			for _, after := range []*Cursor{nil, {"a", "5"}, {"b", "150"}, {"e", "99"}} {
				got := Page(slices.Clone(all), key, dest, after, limit)
				if want := ref(dest, after, limit); !slices.Equal(got, want) {
					t.Fatalf("limit %d, dest %q, after %v: %v, want %v", limit, dest, after, got, want)
				}
			}
		}
	}
}

// TestLimit: zero or less is the default cap, anything else is kept.
func TestLimit(t *testing.T) {
	for n, want := range map[int]int{-1: limits.List, 0: limits.List, 1: 1, 5000: 5000} {
		if got := Limit(n); got != want {
			t.Errorf("Limit(%d) = %d, want %d", n, got, want)
		}
	}
}
