package idclash

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var errInvalid = errors.New("invalid")

// pairs returns an at function over id, destination pairs.
func pairs(p ...string) (int, func(int) (string, string)) {
	return len(p) / 2, func(i int) (string, string) { return p[2*i], p[2*i+1] }
}

func TestInBatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       []string
		repeats []bool
		clash   string
	}{
		{name: "none"},
		{name: "one", p: []string{"x", "a"}},
		{name: "distinct", p: []string{"x", "a", "y", "a", "z", "b"}},
		{name: "same destination", p: []string{"x", "a", "y", "b", "x", "a"}, repeats: []bool{false, false, true}},
		{name: "other destination", p: []string{"x", "a", "y", "b", "x", "b"}, clash: `"x" is held for destination "a", not "b"`},
	} {
		for _, pad := range []int{0, smallBatch} { // each way: pairs, and map
			t.Run(fmt.Sprint(tc.name, "+", pad), func(t *testing.T) {
				p := slices.Clone(tc.p)
				want := slices.Clone(tc.repeats)
				if pad > 0 && len(p) > 0 {
					for i := range pad {
						p = append(p, fmt.Sprint("pad", i), "a")
					}
					if want != nil {
						want = append(want, make([]bool, pad)...)
					}
				}
				n, at := pairs(p...)
				repeats, err := InBatch(errInvalid, n, at)
				if tc.clash != "" {
					if !errors.Is(err, errInvalid) || !strings.Contains(err.Error(), tc.clash) {
						t.Fatalf("InBatch = %v, want an error wrapping errInvalid with %s", err, tc.clash)
					}
					return
				}
				if err != nil || !slices.Equal(repeats, want) {
					t.Fatalf("InBatch = %v, %v; want %v, nil", repeats, err, want)
				}
			})
		}
	}
}
