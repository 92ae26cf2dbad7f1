// Package topictest holds the tables of the topic model, shared by the
// tests of every entry point that takes a pattern (listener.On,
// sender.ValidatePattern and Destination.Wants, the relay's --topic and
// --config), so that they are all held to the one grammar and matcher of
// package topic; and the pattern mix of the dispatch benchmarks. Only
// tests and benchmarks import it.
package topictest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Patterns lists patterns and whether the grammar accepts them.
var Patterns = []struct {
	Pattern string
	Valid   bool
}{
	{"job:ready", true},
	{"job:*", true},
	{"*:created", true},
	{"*:*", true},
	{"**", true},
	{"job:re*", true},
	{"j*b:*y", true},
	{"*a*b*:x", true},
	{"rec*:up*d", true},
	{"v1.2:x-y_Z9", true},
	{strings.Repeat("a", 127) + ":" + strings.Repeat("b", 127), true}, // 255 bytes

	{"", false},
	{"job", false},
	{"*", false},
	{":", false},
	{"job:", false},
	{":ready", false},
	{"job::x", false},
	{"job:ready:now", false},
	{"a:b:*", false},
	{"a:b:c:", false},
	{"job:**", false}, // "job:*" already matches every action of job
	{"**:x", false},
	{"**:**", false},
	{"***", false},
	{"j**b:x", false},
	{"job:**x", false},
	{"job :ready", false},
	{"job:rea dy", false},
	{"job:re ady", false},
	{"job/ready", false},
	{"jöb:ready", false},
	{"job:ré", false},
	{"job:ready\n", false},
	{"job:\x00", false},
	{strings.Repeat("a", 128) + ":" + strings.Repeat("b", 127), false}, // 256 bytes
}

// Matches lists (pattern, topic) pairs and whether the pattern selects the
// topic. Every pattern in it is valid.
var Matches = []struct {
	Pattern, Topic string
	Match          bool
}{
	{"job:ready", "job:ready", true},
	{"job:ready", "job:readyx", false},
	{"job:ready", "jobs:ready", false},
	{"job:ready", "job:done", false},
	{"job:*", "job:ready", true},
	{"job:*", "job:retry", true},
	{"job:*", "jobs:ready", false},
	{"*:created", "records:created", true},
	{"*:created", "records:updated", false},
	{"*:*", "a:b", true},
	{"**", "workbook:updated", true},
	{"job:re*", "job:ready", true},
	{"job:re*", "job:re", true},
	{"job:re*", "job:ok", false},
	{"j*b:*y", "job:ready", true},
	{"j*b:*y", "jb:y", true},
	{"j*b:*y", "job:readx", false},
	{"rec*:up*d", "records:updated", true},
	{"re*ds:c*t*d", "records:created", true},
	{"rec*:*ed", "jobs:created", false},
	{"*a*b*:x", "zazbz:x", true},
	{"*a*b*:x", "zbza:x", false},
	{"a*a:x", "a:x", false}, // prefix and suffix may not overlap
	{"a*a:x", "aa:x", true},
	{"Job:Ready", "job:ready", false}, // case-sensitive
	// A string that is not a topic matches nothing, not even "**".
	{"job:*", "job", false},
	{"job:*", "job:a:b", false},
	{"**", "job:ready:now", false},
	{"**", "not a topic", false},
	{"**", "", false},
	{"*:*", ":", false},
}

// CheckPatterns runs every pattern of Patterns through validate, which
// must accept the valid ones and refuse the others with an error matching
// invalid; name names validate in the failures.
func CheckPatterns(t testing.TB, name string, validate func(pattern string) error, invalid error) {
	t.Helper()
	for _, tt := range Patterns {
		err := validate(tt.Pattern)
		if tt.Valid && err != nil {
			t.Errorf("%s(%q) = %v", name, tt.Pattern, err)
		}
		if !tt.Valid && !errors.Is(err, invalid) {
			t.Errorf("%s(%q) = %v, want %v", name, tt.Pattern, err, invalid)
		}
	}
}

// RouterMix returns n patterns over n/10+1 domains, in the mix a real
// router sees: 40% exact topics, 20% "domain:*", 20% "*:action", 10%
// "domain:prefix*", 10% globs in both segments. The topic "dom1:act1"
// matches some of them at every n, so that a dispatch benchmark of it runs
// handlers.
func RouterMix(n int) []string {
	domains := n/10 + 1
	ps := make([]string, n)
	for i := range n {
		d, a := fmt.Sprintf("dom%d", i%domains), fmt.Sprintf("act%d", i)
		switch i % 10 {
		case 0, 1, 2, 3:
			ps[i] = d + ":" + a
		case 4, 5:
			ps[i] = d + ":*"
		case 6, 7:
			ps[i] = "*:" + a
		case 8:
			ps[i] = d + ":" + a[:4] + "*"
		case 9:
			ps[i] = fmt.Sprintf("d*%d:*t%d", i%domains, i)
		}
	}
	return ps
}
