package listener

import (
	"fmt"

	"github.com/heraldhq/herald/internal/shown"
)

// Format prints s under every fmt verb and flag as the struct it is, but
// with the TLSConfig and the NetListener by their types, and the
// Handler's Dispatcher and Verifier by theirs (see shown.Struct): under
// %s, %q and the like fmt printed what TLSConfig points to, the server's
// private key among it, and every verb a Verifier of the program's own
// field by field. slog's text handler prints it so too.
func (s HTTPServer) Format(f fmt.State, verb rune) {
	shown.Format(f, verb, s, nil)
}
