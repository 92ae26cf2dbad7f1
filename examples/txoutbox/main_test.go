package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestTxOutbox runs the example on a database of its own: the two
// committed orders' webhooks arrive verified, the rolled back one's never.
func TestTxOutbox(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := run(ctx, pgtest.URL(t)); err != nil {
		t.Fatal(err)
	}
}
