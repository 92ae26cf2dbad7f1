package natsevents

import (
	"testing"

	topics "github.com/heraldhq/herald/internal/topic"
)

// FuzzSubjectTopic checks that subjectTopic is the exact inverse of
// subjectOf: a subject it reads is the subject of the topic it returns, and
// every topic's subject reads back as that topic.
func FuzzSubjectTopic(f *testing.F) {
	for _, s := range []string{"events.job.ready", "events.records%2Ev2.created", "events.job%2eX.ready",
		"events.job.ready.extra", "events.job", "events..ready", "other.job.ready", "events.a%2E.b"} {
		f.Add("events", s)
	}
	f.Fuzz(func(t *testing.T, prefix, subject string) {
		if topic, ok := subjectTopic(prefix, subject); ok {
			if !topics.Valid(topic) {
				t.Fatalf("subject %q read as invalid topic %q", subject, topic)
			}
			if back, err := subjectOf(prefix, topic); err != nil || back != subject {
				t.Fatalf("subject %q read as %q, whose subject is %q (%v)", subject, topic, back, err)
			}
		}
		// subject, as a topic: when valid, its subject reads back.
		if topics.Valid(subject) {
			s, _ := subjectOf(prefix, subject)
			if topic, ok := subjectTopic(prefix, s); !ok || topic != subject {
				t.Fatalf("topic %q published on %q reads back as %q, %v", subject, s, topic, ok)
			}
		}
	})
}
