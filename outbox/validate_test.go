package outbox_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/outbox"
)

// TestValidateRefusesIDsSendWouldRefuse: an id that cannot be a webhook-id
// header value is refused when it is stored, not dead-lettered later.
func TestValidateRefusesIDsSendWouldRefuse(t *testing.T) {
	for _, id := range []string{"has space", "tab\there", "naïve", strings.Repeat("x", 257), ""} {
		d := outbox.Delivery{ID: id, Destination: "a", Body: []byte("{}")}
		if err := d.Validate(); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Validate(%q) = %v, want ErrInvalid", id, err)
		}
	}
	ok := outbox.Delivery{ID: "01a221f6-d265-7191-af1e-8f17718f02d2", Destination: "a", Body: []byte("{}")}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(uuid) = %v", err)
	}
}
