package boltstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldhq/herald/outbox"
)

// TestGuardedHidesRuntimeErrors: a runtime error while reading a damaged
// file becomes ErrCorrupt without the runtime's text, which names
// addresses of the process; bbolt's own panics keep their words.
func TestGuardedHidesRuntimeErrors(t *testing.T) {
	var nilMap map[string]int
	err := guarded(func() error {
		var s []int
		_ = s[len(nilMap)+3] // index out of range
		return nil
	})
	if !errors.Is(err, outbox.ErrCorrupt) || strings.Contains(err.Error(), "index") || strings.Contains(err.Error(), "0x") {
		t.Errorf("a runtime error gave %q; want ErrCorrupt without the runtime's text", err)
	}
	err = guarded(func() error { panic("page 7 already freed") })
	if !errors.Is(err, outbox.ErrCorrupt) || !strings.Contains(err.Error(), "page 7 already freed") {
		t.Errorf("bbolt's panic gave %q; want ErrCorrupt with its words", err)
	}
}
