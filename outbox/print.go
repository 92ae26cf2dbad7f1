package outbox

import (
	"fmt"

	"github.com/heraldhq/herald/internal/shown"
)

// Format prints q under every fmt verb and flag as the struct it is, with
// its exported fields only: the Sender and the Destinations as they print
// themselves (no key, header value or URL credential), the Outbox, Metrics,
// OnDisable and Logger by their types (see shown.Struct). Under %s, %q and
// the like fmt printed what the Queue's state points to, each destination
// whole among it. slog's text handler prints it so too. The method is on
// *Queue, which holds a lock: a Queue held by value in a struct that is
// printed still prints whole, so hold it by pointer.
func (q *Queue) Format(f fmt.State, verb rune) {
	shown.Format(f, verb, q, nil)
}
