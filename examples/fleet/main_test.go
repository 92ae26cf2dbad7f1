package main

import (
	"context"
	"testing"
	"time"
)

// TestFleet runs the example against an embedded NATS server: every event
// must arrive as exactly one verified webhook.
func TestFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := run(ctx, "", 300); err != nil {
		t.Fatal(err)
	}
}
