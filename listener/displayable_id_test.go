package listener_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/heraldhq/herald/listener"
)

// TestIntakeRefusesIDsThatDoNotShowAsThemselves: an event whose id holds
// a C1 control (U+0085, a line break to some log readers), a line
// separator or a bidi override is answered 400 and never forwarded; the
// id becomes part of delivery ids and shows in logs, where it could forge
// a line or make one id read as another. (Only C0 and DEL were refused:
// such an event was stored in the outbox.)
func TestIntakeRefusesIDsThatDoNotShowAsThemselves(t *testing.T) {
	_, st, _, l := forwarding(t, "job:*")
	h := &listener.HTTPHandler{Dispatcher: l}
	for _, id := range []string{"evt\u202e1gnp", "evt\u0085forged", "evt\u2028x", "\u2066evt"} {
		body := fmt.Sprintf(`{"id":%q,"topic":"job:ready"}`, id)
		if w := post(h, jsonHeader(), body); w.Code != http.StatusBadRequest {
			t.Errorf("id %+q: status %d %s, want 400", id, w.Code, w.Body)
		}
		ev := listener.Event{ID: id, Topic: "job:ready"}
		if err := ev.Validate(); !errors.Is(err, listener.ErrInvalidEvent) {
			t.Errorf("Validate(id %+q) = %v, want ErrInvalidEvent", id, err)
		}
	}
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Pending != 0 {
		t.Fatalf("%d refused events reached the outbox", s.Pending)
	}
	if w := post(h, jsonHeader(), `{"id":"évt-\u00a0\u200d1","topic":"job:ready"}`); w.Code != http.StatusNoContent {
		t.Errorf("an id of printable UTF-8: status %d %s", w.Code, w.Body)
	}
}
