// Package guard opens the methods of a store guarded by one mutex and a
// closed flag, so that the outbox's memory store and the JetStream store
// refuse a call alike once their context ended or they were closed.
package guard

import (
	"context"
	"sync"
)

// Lock takes mu for a call under ctx, or fails without it: with ctx's
// error when ctx has ended, with errClosed when *closed (read under mu) is
// set.
func Lock(ctx context.Context, mu *sync.Mutex, closed *bool, errClosed error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	mu.Lock()
	if *closed {
		mu.Unlock()
		return errClosed
	}
	return nil
}
