package wire

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestDisplayable checks the rule over the edge runes: every C0, DEL and
// C1 control, the line and paragraph separators and every bidi control
// are refused at their byte offset, as is an invalid byte; a no-break
// space, a zero-width joiner (emoji sequences) and U+FFFD written as
// such are text.
func TestDisplayable(t *testing.T) {
	for _, tc := range []struct {
		s  string
		at int // -1: accepted
	}{
		{"", -1},
		{"acme-prod", -1},
		{"caf\u00e9", -1},
		{"a\u00a0b", -1},                   // no-break space
		{"\U0001F469\u200d\U0001F4BB", -1}, // ZWJ emoji sequence
		{"\ufffd", -1},                     // the replacement character itself
		{"tab\there", 3},                   // C0
		{"a\x7f", 1},                       // DEL
		{"ab\u0085", 2},                    // NEL, C1
		{"\u009f", 0},                      // last C1
		{"x\u2028y", 1},                    // line separator
		{"x\u2029y", 1},                    // paragraph separator
		{"admin\u202egnp.exe", 5},          // RLO
		{"\u202a", 0}, {"\u202c", 0}, {"\u2066", 0}, {"\u2069", 0},
		{"\u200e", 0}, {"\u200f", 0}, {"ab\u061c", 2},
		{"ok\xff", 2},       // invalid UTF-8
		{"ok\xe2\x80", 2},   // truncated rune
		{"\xed\xa0\x80", 0}, // surrogate half
	} {
		at, ok := Displayable(tc.s)
		if want := tc.at < 0; ok != want || !ok && at != tc.at {
			t.Errorf("Displayable(%q) = %d, %v; want %d", tc.s, at, ok, tc.at)
		}
		err := CheckText(tc.s)
		if (err == nil) != ok {
			t.Errorf("CheckText(%q) = %v, Displayable ok = %v", tc.s, err, ok)
		}
		if err != nil && strings.ContainsAny(err.Error(), tc.s[tc.at:tc.at+1]) {
			t.Errorf("CheckText(%q) = %q quotes the text", tc.s, err)
		}
	}
	for r := rune(0); r <= 0x10ffff; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		bad := unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
		if _, ok := Displayable(string(r)); ok == bad {
			t.Errorf("Displayable(%U) = %v", r, ok)
		}
	}
}

// FuzzDisplayable checks that a string Displayable accepts is valid
// UTF-8 and holds no control character, line or paragraph separator or
// bidi control, and that one it refuses is refused at the first such rune.
func FuzzDisplayable(f *testing.F) {
	for _, s := range []string{"acme", "a\u202eb", "\u0085", "x\u2028", "\xff", "\u200d", "é\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		at, ok := Displayable(s)
		first := -1
		for i, r := range s {
			if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\ufffd") ||
				unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control) {
				first = i
				break
			}
		}
		if ok != (first < 0) || !ok && at != first {
			t.Fatalf("Displayable(%q) = %d, %v; first bad rune at %d", s, at, ok, first)
		}
	})
}

// TestDisplayableAllocatesNothing: the rule runs on every event and
// delivery id; it must not allocate, for ASCII or not.
func TestDisplayableAllocatesNothing(t *testing.T) {
	for _, s := range []string{"01a221f6-d265-7191-af1e-8f17718f02d2", "commande:payée \U0001F469\u200d\U0001F4BB"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = Displayable(s) }); n != 0 {
			t.Errorf("Displayable(%q): %v allocations", s, n)
		}
	}
}

func BenchmarkDisplayable(b *testing.B) {
	const id = "01a221f6-d265-7191-af1e-8f17718f02d2"
	for b.Loop() {
		if _, ok := Displayable(id); !ok {
			b.Fatal("refused")
		}
	}
}

// TestShow: text that shows as itself is returned as it is, and any other
// is quoted so that it does.
func TestShow(t *testing.T) {
	for _, s := range []string{"", "evt_1", "jöb 🙂", "a\u200db"} {
		if got := Show(s); got != s {
			t.Errorf("Show(%+q) = %+q, want it as it is", s, got)
		}
	}
	for _, s := range []string{"a\u202eb", "a\u0085b", "a\u2028b", "a\x1bb", "a\xffb"} {
		got := Show(s)
		if _, ok := Displayable(got); !ok || got == s {
			t.Errorf("Show(%+q) = %+q, which does not show as itself", s, got)
		}
	}
}
