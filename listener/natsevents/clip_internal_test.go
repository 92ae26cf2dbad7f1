package natsevents

import (
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/wire"
)

// TestClipShowsAsItself checks that what refuse logs of a message (its
// id and topic, before they are validated) shows as itself: a bidi
// control, a C1 control or a line separator is escaped, and a cut in the
// middle of a character leaves no broken UTF-8.
func TestClipShowsAsItself(t *testing.T) {
	for _, s := range []string{"evt\u202e1gnp", "evt\u0085x", "evt\u2028x", "ok\x00", strings.Repeat("é", 200)} {
		got := clip(s, 255)
		if _, ok := wire.Displayable(got); !ok {
			t.Errorf("clip(%.40q) = %.40q, which does not show as itself", s, got)
		}
	}
	if got := clip("evt_1", 255); got != "evt_1" {
		t.Errorf("clip of a plain id = %q, want it as it is", got)
	}
	// A cut between characters leaves valid text, which needs no quotes.
	if got, want := clip(strings.Repeat("é", 200), 255), strings.Repeat("é", 127)+"…"; got != want {
		t.Errorf("clip of 200 é = %.40q…, want 127 é and an ellipsis", got)
	}
}
