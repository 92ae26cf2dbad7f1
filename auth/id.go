package auth

import (
	"fmt"

	"github.com/heraldhq/herald/internal/wire"
)

// checkMessageID refuses a delivery id that cannot be sent as a header, by
// the module's one id rule ([wire.CheckID]): empty, longer than 256 bytes,
// or holding control characters, spaces or non-ASCII bytes. The error names
// scheme and does not echo the id.
func checkMessageID(scheme, id string) error {
	if err := wire.CheckID(id); err != nil {
		return fmt.Errorf("auth: %s: message %w", scheme, err)
	}
	return nil
}
