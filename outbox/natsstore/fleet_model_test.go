package natsstore_test

import (
	"testing"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/outboxtest"
)

// TestFleetModel runs the fleet model check: each run shares a stream of
// its own between stores on connections of their own, as the processes of
// a fleet do.
func TestFleetModel(t *testing.T) {
	url := natstest.Start(t, nil).ClientURL()
	outboxtest.RunFleet(t, func(t *testing.T) func(t *testing.T) outbox.Outbox {
		cfg := freshConfig()
		return func(t *testing.T) outbox.Outbox {
			_, js := natstest.Connect(t, url)
			return open(t, js, cfg)
		}
	})
}
