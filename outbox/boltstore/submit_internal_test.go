package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestSubmitHonoursContextWhenQueueFull: with the committer held (a disk
// that stalls in a commit) and the changes it will take next filling its
// queue, a Put, Settle or state change waiting for room returns its
// context's error once that ends, having done nothing, rather than wait
// for the disk with it. (It waited, whatever its context.)
func TestSubmitHonoursContextWhenQueueFull(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "o.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*store)
	held, release := make(chan struct{}), make(chan struct{})
	go s.commit(context.Background(), func(*bolt.Tx, *bucketSet) error {
		close(held)
		<-release
		return nil
	}, nil)
	<-held
	var wg sync.WaitGroup
	for range cap(s.ops) {
		wg.Go(func() { _ = s.commit(context.Background(), func(*bolt.Tx, *bucketSet) error { return nil }, nil) })
	}
	for len(s.ops) < cap(s.ops) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ran := false
	done := make(chan error, 1)
	go func() {
		done <- s.commit(ctx, func(*bolt.Tx, *bucketSet) error { ran = true; return nil }, nil)
	}()
	returned := false
	select {
	case err := <-done:
		returned = true
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("commit with its context ended = %v, want DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("commit waited for room in the queue after its context ended")
	}
	close(release)
	wg.Wait()
	if !returned {
		<-done // the old code sent it once the committer had room
	}
	if ran {
		t.Error("the change whose context ended was committed")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
