package outbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/limits"
)

// TestValidateEventID: the optional event id is bounded and free of
// control characters, like the delivery id.
func TestValidateEventID(t *testing.T) {
	for _, ev := range []string{"a\nb", "\x7f", "a\u0085b", "a\u202eb", "a\u2029", strings.Repeat("e", limits.ID+1)} {
		d := Delivery{ID: "d-1", Destination: "a", EventID: ev}
		if err := d.validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("validate with event id %q = %v, want ErrInvalid", ev, err)
		}
	}
	for _, ev := range []string{"", "evt_1", strings.Repeat("e", limits.ID)} {
		d := Delivery{ID: "d-1", Destination: "a", EventID: ev}
		if err := d.validate(); err != nil {
			t.Errorf("validate with event id %q = %v", ev, err)
		}
	}
}
