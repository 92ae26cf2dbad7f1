package natsstore_test

import (
	"testing"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/outboxtest"
)

func TestConformance(t *testing.T) {
	js := jetStream(t)
	outboxtest.Run(t, func(t *testing.T) outbox.Outbox { return open(t, js, freshConfig()) })
}
