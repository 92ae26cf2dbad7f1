package pgstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/outboxtest"
	"github.com/heraldhq/herald/outbox/pgstore"
)

// TestFleetModel runs the fleet model check: each run shares a schema of
// its own between handles of its own pool each, as the processes of a
// fleet share a database.
func TestFleetModel(t *testing.T) {
	url := pgtest.URL(t)
	var n atomic.Int64
	outboxtest.RunFleet(t, func(t *testing.T) func(t *testing.T) outbox.Outbox {
		o := &pgstore.Options{Schema: fmt.Sprint("fleet_", n.Add(1))}
		return func(t *testing.T) outbox.Outbox { return open(t, connect(t, url), o) }
	})
}
