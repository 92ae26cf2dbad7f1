package main

import (
	"context"
	"testing"
	"time"
)

// TestQuickstart runs the README's first command in process: every event
// must end as a webhook the receiver verified.
func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := run(ctx); err != nil {
		t.Fatal(err)
	}
}
