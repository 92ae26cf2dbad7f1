package pgstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/outboxtest"
	"github.com/heraldhq/herald/outbox/pgstore"
)

// TestConformance runs the suite with every subtest in a schema of its own
// of one database.
func TestConformance(t *testing.T) {
	pool := newPool(t)
	var n atomic.Int64
	outboxtest.Run(t, func(t *testing.T) outbox.Outbox {
		return open(t, pool, &pgstore.Options{Schema: fmt.Sprint("conformance_", n.Add(1))})
	})
}
