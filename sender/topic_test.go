package sender

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/topic/topictest"
)

// TestValidatePattern runs the module's one table of patterns through the
// destination's validation.
func TestValidatePattern(t *testing.T) {
	topictest.CheckPatterns(t, "ValidatePattern", ValidatePattern, ErrInvalidPattern)
}

// TestWants runs the module's one table of matches through
// Destination.Wants.
func TestWants(t *testing.T) {
	for _, tt := range topictest.Matches {
		d := Destination{Topics: []string{tt.Pattern}}
		if got := d.Wants(tt.Topic); got != tt.Match {
			t.Errorf("pattern %q, topic %q: %v, want %v", tt.Pattern, tt.Topic, got, tt.Match)
		}
	}
	if !(Destination{}).Wants("anything") {
		t.Error("no Topics should want every topic")
	}
	if !(Destination{Topics: []string{"a:*", "b:*"}}).Wants("b:x") {
		t.Error("second pattern ignored")
	}
	// A malformed pattern matches nothing, not even the topic it spells.
	for _, p := range []string{"job:**", "job:ready:now", "job"} {
		if (Destination{Topics: []string{p}}).Wants("job:x") {
			t.Errorf("malformed pattern %q matched", p)
		}
	}
	// Pathological patterns stay fast and never panic.
	if (Destination{Topics: []string{strings.Repeat("*a", 60) + ":x"}}).Wants(strings.Repeat("a", 200) + "b:x") {
		t.Error("glob matched")
	}
}

// BenchmarkWants is the cost of one topic filter check, as Forward and the
// relay pay it per event and destination: a literal, a wildcard action,
// and a miss across three patterns.
func BenchmarkWants(b *testing.B) {
	for _, bc := range []struct {
		name, topic string
		topics      []string
	}{
		{"literal", "job:ready", []string{"job:ready"}},
		{"wildcard", "job:ready", []string{"job:*"}},
		{"miss3", "records:created", []string{"job:*", "*:deleted", "inv*:pa*d"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := Destination{Topics: bc.topics}
			b.ReportAllocs()
			for b.Loop() {
				d.Wants(bc.topic)
			}
		})
	}
}
