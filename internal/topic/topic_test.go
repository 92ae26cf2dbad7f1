package topic_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/topic"
	"github.com/heraldhq/herald/internal/topic/topictest"
)

func TestChar(t *testing.T) {
	for _, c := range []byte("azAZ09_-.") {
		if !topic.Char(c) {
			t.Errorf("Char(%q) = false", c)
		}
	}
	for _, c := range []byte(" :*/\x00\x7f\xc3") {
		if topic.Char(c) {
			t.Errorf("Char(%q) = true", c)
		}
	}
}

func TestParse(t *testing.T) {
	topictest.CheckPatterns(t, "Parse", func(p string) error {
		_, err := topic.Parse(p)
		return err
	}, topic.ErrInvalidPattern)
}

// TestRouterMix: the benchmarks' patterns all parse, and their event
// topic matches some of them at every size.
func TestRouterMix(t *testing.T) {
	for _, n := range []int{10, 100, 1000} {
		ps := topictest.RouterMix(n)
		for _, p := range ps {
			if _, err := topic.Parse(p); err != nil {
				t.Fatalf("n=%d: %v", n, err)
			}
		}
		if len(ps) != n || !topic.MatchAny(ps, "dom1:act1") {
			t.Fatalf("n=%d: %d patterns, dom1:act1 matching %v", n, len(ps), topic.MatchAny(ps, "dom1:act1"))
		}
	}
}

// TestParseReasons checks that a refusal says why.
func TestParseReasons(t *testing.T) {
	for p, why := range map[string]string{
		"":                        "empty",
		"job":                     `want "domain:action"`,
		"job:ready:now":           "more than one ':'",
		"job::x":                  "empty segment",
		":x":                      "empty segment",
		"job:":                    "empty segment",
		"job:**":                  `"**" is only valid as the whole pattern`,
		"job:re ady":              `invalid character ' '`,
		strings.Repeat("a:", 200): "longer than 255 bytes",
	} {
		_, err := topic.Parse(p)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("Parse(%.20q) = %v, want %q", p, err, why)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tt := range topictest.Matches {
		p, err := topic.Parse(tt.Pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Match(tt.Topic); got != tt.Match {
			t.Errorf("Parse(%q).Match(%q) = %v, want %v", tt.Pattern, tt.Topic, got, tt.Match)
		}
		if got := topic.MatchAny([]string{"zz:zz", tt.Pattern}, tt.Topic); got != tt.Match {
			t.Errorf("MatchAny(%q, %q) = %v, want %v", tt.Pattern, tt.Topic, got, tt.Match)
		}
	}
	// A malformed pattern matches nothing, even the topic it spells.
	if topic.MatchAny([]string{"job:ready:now"}, "job:ready:now") || topic.MatchAny([]string{"job:**"}, "job:x") {
		t.Error("malformed pattern matched")
	}
}

func TestValid(t *testing.T) {
	for _, s := range []string{"job:ready", "records:created", "a.b-c_d:E9", strings.Repeat("a", 127) + ":" + strings.Repeat("b", 127)} {
		if !topic.Valid(s) {
			t.Errorf("Valid(%q) = false", s)
		}
	}
	for _, s := range []string{"", "job", "job:", ":x", ":", "a:b:c", "job:*", "job: ready", strings.Repeat("a", 128) + ":" + strings.Repeat("b", 127)} {
		if topic.Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
}

// TestGlob covers what the listener's Context and Field filters rely on:
// '*' matches any bytes, not only topic characters.
func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"", "", true},
		{"", "x", false},
		{"*", "", true},
		{"*", "any thing: at/all", true},
		{"wb_*", "wb_42", true},
		{"wb_*", "wc_42", false},
		{"a*b*c", "a b  c", true},
		{"a*b*c", "acb", false},
		{"**", "x", true},
		{"*.example.com", "api.example.com", true},
		{"*.example.com", "example.com", false},
	} {
		if got := glob(tt.p, tt.s); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tt.p, tt.s, got, tt.want)
		}
	}
}

func glob(p, s string) bool {
	g := topic.NewGlob(p)
	return g.Match(s)
}

// globRegexp is the reference Glob is checked against.
func globRegexp(p string) *regexp.Regexp {
	parts := strings.Split(p, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile(`\A(?s:` + strings.Join(parts, ".*") + `)\z`)
}

// FuzzGlob checks Glob against a regular expression, and Parse and Match
// against the rule that a literal pattern is a topic matching only itself.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{{"job:*", "job:ready"}, {"**", "a:b"}, {"*a*b:*", "xaxb:c"}, {"a*a", "a"}, {"*ab*ab*", "abab"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 64 || len(s) > 256 {
			return
		}
		// The regexp package reads runes, so it is a reference for UTF-8 only.
		if utf8.ValidString(p) && utf8.ValidString(s) {
			if got, want := glob(p, s), globRegexp(p).MatchString(s); got != want {
				t.Fatalf("Glob(%q, %q) = %v, regexp says %v", p, s, got, want)
			}
		}
		pat, err := topic.Parse(p)
		if err != nil {
			if !errors.Is(err, topic.ErrInvalidPattern) {
				t.Fatalf("Parse(%q) = %v", p, err)
			}
			if topic.MatchAny([]string{p}, s) {
				t.Fatalf("malformed %q matched %q", p, s)
			}
			return
		}
		ok := pat.Match(s)
		if fast := topic.MatchAny([]string{p}, s); fast != ok {
			t.Fatalf("MatchAny(%q, %q) = %v, Parse and Match say %v", p, s, fast, ok)
		}
		if ok && !topic.Valid(s) {
			t.Fatalf("%q matched the non-topic %q", p, s)
		}
		if topic.Valid(p) && ok != (p == s) {
			t.Fatalf("literal pattern %q vs %q: %v", p, s, ok)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !topic.MatchAny([]string{"d*m:act*"}, "dom:act1") {
			b.Fatal("no match")
		}
	}
}
