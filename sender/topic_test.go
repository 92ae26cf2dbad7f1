package sender

import (
	"errors"
	"strings"
	"testing"
)

func TestWants(t *testing.T) {
	tests := []struct {
		pattern, topic string
		want           bool
	}{
		{"job:ready", "job:ready", true},
		{"job:ready", "job:done", false},
		{"job:ready", "job:ready:now", false},
		{"job:*", "job:ready", true},
		{"job:*", "job", false},
		{"job:*", "job:ready:now", false},
		{"*:created", "records:created", true},
		{"*:created", "records:updated", false},
		{"rec*:*ed", "records:created", true},
		{"rec*:*ed", "jobs:created", false},
		{"re*ds:c*t*d", "records:created", true},
		{"*", "job", true},
		{"*", "job:ready", false},
		{"**", "job", true},
		{"**", "job:ready:now", true},
		{"job:**", "job", true},
		{"job:**", "job:ready:now", true},
		{"job:**", "jobs:ready", false},
		{"**:created", "a:b:created", true},
		{"**:created", "created", true},
		{"**:created", "a:b:updated", false},
		{"a:**:z", "a:z", true},
		{"a:**:z", "a:b:c:z", true},
		{"a:**:z", "a:b:c:y", false},
		{"Job:ready", "job:ready", false},
		{"", "job", false},
		{"job", "", false},
		{"job:", "job:", true},
	}
	for _, tt := range tests {
		d := Destination{Topics: []string{tt.pattern}}
		if got := d.Wants(tt.topic); got != tt.want {
			t.Errorf("pattern %q, topic %q: %v, want %v", tt.pattern, tt.topic, got, tt.want)
		}
	}
	if !(Destination{}).Wants("anything") {
		t.Error("no Topics should want every topic")
	}
	if !(Destination{Topics: []string{"a:*", "b:*"}}).Wants("b:x") {
		t.Error("second pattern ignored")
	}
	// Pathological patterns stay fast and never panic.
	long := strings.Repeat("**:", 20) + "x"
	if (Destination{Topics: []string{long}}).Wants(strings.Repeat("a:", 20) + "y") {
		t.Error("long ** pattern matched")
	}
	if (Destination{Topics: []string{strings.Repeat("*a", 50)}}).Wants(strings.Repeat("a", 200) + "b") {
		t.Error("glob matched")
	}
}

func TestValidatePattern(t *testing.T) {
	for _, p := range []string{"**", "job:*", "*:created", "job:**", "**:deleted", "a:**:z", "rec*:up*", "job", "v1.2:x-y_z"} {
		if err := ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", ":", "job:", ":x", "job::x", "job:**x", "***", "job:re ady", "job:ré", "job:\x00", strings.Repeat("a", 1025)} {
		if err := ValidatePattern(p); !errors.Is(err, ErrInvalidPattern) {
			t.Errorf("ValidatePattern(%q) = %v, want ErrInvalidPattern", p, err)
		}
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
