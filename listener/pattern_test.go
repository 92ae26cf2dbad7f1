package listener_test

import (
	"context"
	"errors"
	"testing"

	"github.com/heraldhq/herald/listener"
)

func TestPatternGrammar(t *testing.T) {
	tests := []struct {
		pattern, topic string
		want           bool
	}{
		{"job:ready", "job:ready", true},
		{"job:ready", "job:readyx", false},
		{"job:ready", "jobs:ready", false},
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
		{"*a*b*:x", "zazbz:x", true},
		{"*a*b*:x", "zbza:x", false},
		{"job:*", "job", false},           // malformed topic never matches
		{"job:*", "job:a:b", false},       // malformed topic never matches
		{"**", "not a topic", false},      // even for **
		{"Job:Ready", "job:ready", false}, // case-sensitive
	}
	for _, tt := range tests {
		got, err := listener.MatchTopic(tt.pattern, tt.topic)
		if err != nil {
			t.Errorf("MatchTopic(%q, %q): %v", tt.pattern, tt.topic, err)
			continue
		}
		if got != tt.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", tt.pattern, tt.topic, got, tt.want)
		}
	}
}

func TestMalformedPatterns(t *testing.T) {
	for _, p := range []string{
		"", "job", ":", "job:", ":ready", "job:ready:now", "job:**", "**:x", "***",
		"job :ready", "job:rea dy", "job/ready", "jöb:ready", "job:ready\n", "*", "a:b:*",
	} {
		err := listener.ValidatePattern(p)
		if !errors.Is(err, listener.ErrInvalidPattern) {
			t.Errorf("ValidatePattern(%q) = %v, want ErrInvalidPattern", p, err)
		}
		var l listener.Listener
		if err := l.On(p, func(ctx context.Context, ev *listener.Event) error { return nil }); !errors.Is(err, listener.ErrInvalidPattern) {
			t.Errorf("On(%q) = %v, want ErrInvalidPattern", p, err)
		}
	}
}

func TestValidateTopic(t *testing.T) {
	for _, topic := range []string{"job:ready", "records:created", "a.b-c_d:E9"} {
		if err := listener.ValidateTopic(topic); err != nil {
			t.Errorf("ValidateTopic(%q) = %v", topic, err)
		}
	}
	for _, topic := range []string{"", "job", "job:", ":x", "a:b:c", "job:*", "job: ready", string(make([]byte, 300))} {
		if err := listener.ValidateTopic(topic); !errors.Is(err, listener.ErrInvalidEvent) {
			t.Errorf("ValidateTopic(%q) = %v, want ErrInvalidEvent", topic, err)
		}
	}
}
