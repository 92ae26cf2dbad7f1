package pgstore_test

import (
	"errors"
	"testing"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
)

// TestOpenNegativeVersion: a version table holding a negative number (a
// damaged or hand-edited row) made Open index its migrations with it and
// panic. It is now refused as ErrCorrupt, as a newer version is.
func TestOpenNegativeVersion(t *testing.T) {
	pool := newPool(t)
	open(t, pool, nil)
	if _, err := pool.Exec(ctx, "UPDATE herald_outbox_version SET version = -1"); err != nil {
		t.Fatal(err)
	}
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("Open of tables at version -1 panicked: %v", r)
			}
		}()
		_, err = pgstore.Open(ctx, pool, nil)
	}()
	if !errors.Is(err, outbox.ErrCorrupt) {
		t.Errorf("Open of tables at version -1 = %v, want ErrCorrupt", err)
	}
}
