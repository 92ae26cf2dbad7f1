package deadlist

import (
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
		after *row
		limit int
		want  []row
	}{
		{"all", "", nil, 0, []row{{"B", "9"}, {"a", "10"}, {"a", "2"}, {"b", "0"}, {"b", "1"}}},
		{"one destination", "a", nil, 0, []row{{"a", "10"}, {"a", "2"}}},
		{"after a cursor", "", &row{"a", "10"}, 0, []row{{"a", "2"}, {"b", "0"}, {"b", "1"}}},
		{"after a cursor of no row", "", &row{"a", "3"}, 2, []row{{"b", "0"}, {"b", "1"}}},
		{"limit", "", nil, 2, []row{{"B", "9"}, {"a", "10"}}},
		{"destination, cursor and limit", "b", &row{"a", "99"}, 1, []row{{"b", "0"}}},
		{"nothing after the last", "", &row{"b", "1"}, 0, []row{}},
	} {
		if got := Page(rows(), key, c.dest, c.after, c.limit); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
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
