package auth

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestJWKSStaleKeysDoNotWait: keys an hour old are fetched again, and a
// token whose kid they hold is verified with them meanwhile, without
// waiting for the fetch. (Every such lookup waited for it: a key server
// that hung stalled every verification for the fetch's 10 seconds, once
// a minute, each request holding its body meanwhile.) The refresh still
// happens, once.
func TestJWKSStaleKeysDoNotWait(t *testing.T) {
	ks := asymKeys(t)
	s, j, clock := clockedJWKS(t, ks.ed.Public())
	ctx := context.Background()
	if _, err := j.Keys(ctx, ks.ed.ID()); err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	s.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // a key server that hangs
		JWKSHandler(ks.ed.Public(), ks.ec.Public()).ServeHTTP(w, r)
	}))
	clock.Store(int64(jwksMaxAge + time.Minute))
	got := make(chan error, 8)
	for range cap(got) {
		go func() {
			keys, err := j.Keys(ctx, ks.ed.ID())
			if err == nil && (len(keys) != 1 || keys[0].ID() != ks.ed.ID()) {
				t.Errorf("stale lookup: %v", keys)
			}
			got <- err
		}()
	}
	for range cap(got) {
		select {
		case err := <-got:
			if err != nil {
				t.Errorf("stale lookup: %v", err)
			}
		case <-time.After(5 * time.Second):
			close(release)
			t.Fatal("a lookup of a known kid waits for the refresh of stale keys")
		}
	}
	close(release)
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if keys, err := j.Keys(ctx, ks.ec.ID()); err == nil && len(keys) == 1 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the stale keys were never fetched again")
		}
	}
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (first use, one refresh)", n)
	}
}

// TestJWKSKeysAreTheCallers: what Keys returns is the caller's to change;
// the set kept for the next lookup stays as fetched. (Keys(ctx, "")
// returned the cached slice itself.)
func TestJWKSKeysAreTheCallers(t *testing.T) {
	ks := asymKeys(t)
	_, j, _ := clockedJWKS(t, ks.ed.Public(), ks.ec.Public())
	ctx := context.Background()
	for _, kid := range []string{"", ks.ed.ID()} {
		keys, err := j.Keys(ctx, kid)
		if err != nil || len(keys) == 0 {
			t.Fatalf("Keys(%q): %v, %v", kid, keys, err)
		}
		want := keys[0].ID()
		keys[0] = PublicKey{}
		again, err := j.Keys(ctx, kid)
		if err != nil || len(again) == 0 || again[0].ID() != want {
			t.Errorf("Keys(%q) after the caller changed what it got: %v, %v", kid, again, err)
		}
	}
}
