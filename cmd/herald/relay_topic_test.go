package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/topic/topictest"
	"github.com/heraldhq/herald/sender"
)

// TestRelayTopicPatterns runs the module's one table of patterns through
// both places the relay reads them: --topic and a --config destination's
// "topics".
func TestRelayTopicPatterns(t *testing.T) {
	for _, tt := range topictest.Patterns {
		flagErr := checkTopics([]string{"job:*", tt.Pattern})
		d := destConfig{Name: "a", URL: "https://a.example/", Topics: []string{tt.Pattern},
			Secret: stringOrList{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
		dest, confErr := d.destination(1)
		if tt.Valid {
			if flagErr != nil || confErr != nil {
				t.Errorf("%q: --topic %v, --config %v", tt.Pattern, flagErr, confErr)
			}
			if len(dest.Topics) != 1 || dest.Topics[0] != tt.Pattern {
				t.Errorf("%q: destination topics %q", tt.Pattern, dest.Topics)
			}
			continue
		}
		if !errors.Is(flagErr, sender.ErrInvalidPattern) {
			t.Errorf("--topic %q = %v, want sender.ErrInvalidPattern", tt.Pattern, flagErr)
		}
		if confErr == nil || !strings.Contains(confErr.Error(), "invalid topic pattern") {
			t.Errorf("--config topics %q = %v, want an invalid topic pattern", tt.Pattern, confErr)
		}
	}
}
