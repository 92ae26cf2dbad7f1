package auth

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestJWKSRotationFromKidlessKey: a JWKS whose one key has no kid (common
// for a single-key set) gains a second key, with a kid, and the sender
// signs with it. A token naming a kid that no cached key names makes the
// set be fetched again (within the refresh limits) before the kid-less key
// is tried, so the genuine token is accepted at once, as jose and jwks-rsa
// accept it. (Keys handed the kid-less key to any kid and fetched nothing
// until the set was an hour old: an hour of refusals.)
func TestJWKSRotationFromKidlessKey(t *testing.T) {
	ks := asymKeys(t)
	old := ks.ed.withID("")
	s := newJWKSServer(t, old.Public())
	var clock atomic.Int64
	v := must(NewJWTVerifier(jwksAt(t, s, "/jwks.json", &clock), WithClock(asymClock)))(t)
	m := asymMsg()

	oldSigner := must(NewJWTSigner([]PrivateKey{old}, WithClock(asymClock)))(t)
	if _, err := v.Verify(signed(t, oldSigner, m), m.Body); err != nil {
		t.Fatalf("token of the kid-less key: %v", err)
	}

	// The sender rotates: the set now holds the new key, with a kid.
	s.set(JWKSHandler(old.Public(), ks.ed2.Public()))
	clock.Store(int64(5 * time.Minute)) // past the refresh interval, well within the hour
	newSigner := must(NewJWTSigner([]PrivateKey{ks.ed2}, WithClock(asymClock)))(t)
	got, err := v.Verify(signed(t, newSigner, m), m.Body)
	t.Logf("token of the new key (kid ed-2): %+v, %v; fetches %d", got, err, s.fetches.Load())
	if err != nil {
		t.Fatalf("genuine token of the newly published key refused: %v", err)
	}
}
