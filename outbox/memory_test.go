package outbox_test

import (
	"testing"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/outboxtest"
)

func TestMemoryConformance(t *testing.T) {
	outboxtest.Run(t, func(*testing.T) outbox.Outbox { return outbox.NewMemory() })
}
