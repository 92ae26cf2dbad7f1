package listener_test

import (
	"context"
	"errors"
	"testing"

	"github.com/heraldhq/herald/internal/topic/topictest"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/sender"
)

// TestOnPatterns runs the module's one table of patterns through On and
// Handle, and on a namespace child.
func TestOnPatterns(t *testing.T) {
	h := func(context.Context, *listener.Event) error { return nil }
	typed := func(context.Context, *listener.Event, struct{}) error { return nil }
	topictest.CheckPatterns(t, "On", func(p string) error { return new(listener.Listener).On(p, h) }, sender.ErrInvalidPattern)
	topictest.CheckPatterns(t, "Handle", func(p string) error { return listener.Handle(new(listener.Listener), p, typed) }, sender.ErrInvalidPattern)
	topictest.CheckPatterns(t, "Namespace", func(p string) error { return new(listener.Listener).Namespace("ns").On(p, h) }, sender.ErrInvalidPattern)
}

// TestOnMatches runs the module's one table of matches through
// registration and dispatch, alone and among patterns of every index the
// router keeps (exact, by domain, by action, wild), so that indexing never
// changes what matches.
func TestOnMatches(t *testing.T) {
	for _, tt := range topictest.Matches {
		for _, crowd := range []bool{false, true} {
			var l listener.Listener
			if crowd {
				for _, p := range []string{"zz:zz", "job:zz*", "*:zz", "z*:*z"} {
					if err := l.On(p, func(context.Context, *listener.Event) error { return nil }); err != nil {
						t.Fatal(err)
					}
				}
			}
			ran := false
			if err := l.On(tt.Pattern, func(context.Context, *listener.Event) error { ran = true; return nil }); err != nil {
				t.Fatalf("On(%q): %v", tt.Pattern, err)
			}
			err := l.Dispatch(context.Background(), &listener.Event{ID: "e1", Topic: tt.Topic})
			if ran != tt.Match {
				t.Errorf("pattern %q, topic %q (crowd %v): ran %v, want %v", tt.Pattern, tt.Topic, crowd, ran, tt.Match)
			}
			if valid := listener.ValidateTopicForTest(tt.Topic) == nil; !valid && !errors.Is(err, listener.ErrInvalidEvent) {
				t.Errorf("topic %q: Dispatch = %v, want ErrInvalidEvent", tt.Topic, err)
			}
		}
	}
}

func TestValidateTopic(t *testing.T) {
	for _, topic := range []string{"job:ready", "records:created", "a.b-c_d:E9"} {
		if err := listener.ValidateTopicForTest(topic); err != nil {
			t.Errorf("ValidateTopic(%q) = %v", topic, err)
		}
	}
	for _, topic := range []string{"", "job", "job:", ":x", "a:b:c", "job:*", "job: ready", string(make([]byte, 300))} {
		if err := listener.ValidateTopicForTest(topic); !errors.Is(err, listener.ErrInvalidEvent) {
			t.Errorf("ValidateTopic(%q) = %v, want ErrInvalidEvent", topic, err)
		}
	}
}
