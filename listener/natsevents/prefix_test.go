package natsevents_test

import (
	"context"
	"strings"
	"testing"

	"github.com/heraldhq/herald/listener/natsevents"
)

// TestSourceRefusesOddPrefixes: a subject prefix with a wildcard ("a.*"
// made the stream take every other tenant's "a.X.…" events), an empty
// token, white space or a control byte is refused by Setup with an error
// that names the prefix setting, rather than taken and half-working.
func TestSourceRefusesOddPrefixes(t *testing.T) {
	b := newBus(t)
	for _, p := range []string{"a.*", "a.>", ">", "a..b", ".a", "a.", "a b", "a\x00b", "a\tb", "a\x7fb", "a\xffb"} {
		for _, src := range []*natsevents.Source{
			{JetStream: b.js, SubjectPrefix: p},
			{JetStream: b.js, DeadLetterPrefix: p},
		} {
			err := src.Setup(context.Background())
			if err == nil || !strings.Contains(err.Error(), "prefix") {
				t.Errorf("Setup with prefixes %q and %q = %v, want an error naming the prefix", src.SubjectPrefix, src.DeadLetterPrefix, err)
			}
		}
	}
	src := &natsevents.Source{JetStream: b.js, SubjectPrefix: "tenant-1.events", DeadLetterPrefix: "tenant-1.dead"}
	if err := src.Setup(context.Background()); err != nil {
		t.Errorf("Setup with tenant-1.events = %v", err)
	}
}
