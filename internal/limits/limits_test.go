package limits

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	long := strings.Repeat("a", Reason+10)
	euro := strings.Repeat("a", Reason-1) + "€" // the cut splits the euro sign
	for _, tc := range []struct {
		name, in, want string
	}{
		{"short", "short", "short"},
		{"exactly the limit", long[:Reason], long[:Reason]},
		{"long", long, long[:Reason]},
		{"a rune split by the cut", euro, euro[:Reason-1]},
		// An invalid byte early on used to cut the text back to before it.
		{"an invalid byte first", "\xff" + long, "\xff" + long[:Reason-1]},
		{"an invalid byte inside", "ab\xfe" + long, "ab\xfe" + long[:Reason-3]},
	} {
		got := Clip(tc.in)
		if got != tc.want {
			t.Errorf("%s: Clip gave %d bytes, want %d", tc.name, len(got), len(tc.want))
		}
	}
}

func FuzzClip(f *testing.F) {
	f.Add(strings.Repeat("é", Reason))
	f.Add("\xff" + strings.Repeat("a", Reason))
	f.Fuzz(func(t *testing.T, s string) {
		got := Clip(s)
		if len(got) > Reason || !strings.HasPrefix(s, got) {
			t.Fatalf("Clip gave %d bytes, not a prefix of at most %d", len(got), Reason)
		}
		if len(s) > Reason && len(got) < Reason-utf8.UTFMax+1 {
			t.Fatalf("Clip cut %d bytes to %d", len(s), len(got))
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatal("Clip split a rune of valid text")
		}
	})
}

func TestCountOn(t *testing.T) {
	for _, c := range []struct{ n, most, want int }{
		{0, 10, 1}, {8, 10, 9}, {9, 10, 10}, {10, 10, 10}, {math.MaxInt, math.MaxInt, math.MaxInt}, {math.MaxInt - 1, math.MaxInt, math.MaxInt},
	} {
		if got := CountOn(c.n, c.most); got != c.want {
			t.Errorf("CountOn(%d, %d) = %d, want %d", c.n, c.most, got, c.want)
		}
	}
}
