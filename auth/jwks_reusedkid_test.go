package auth

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestJWKSRotationReusedKid: the issuer rotates its key but publishes the
// new one under the kid of the old. A token of the new key fails its
// signature check against the cached key; the set is then fetched again,
// within the refresh interval that an unknown kid obeys, and the token is
// checked against the new key of that kid. (A known kid never fetched:
// genuine tokens were refused as "bad signature" until the keys were an
// hour old.)
func TestJWKSRotationReusedKid(t *testing.T) {
	oldKey, newKey := edKey(11), edKey(12)
	oldPub := must(NewPublicKey(oldKey.Public(), "k1"))(t)
	newPub := must(NewPublicKey(newKey.Public(), "k1"))(t)
	s := newJWKSServer(t, oldPub)
	var clock atomic.Int64
	v := must(NewJWTVerifier(jwksAt(t, s, "/jwks.json", &clock), WithClock(asymClock)))(t)
	m := asymMsg()

	if got, err := v.Verify(jwtFor(t, oldKey, "k1", m), m.Body); err != nil || got.KeyID != "k1" {
		t.Fatalf("token of the first key: %+v, %v", got, err)
	}

	// The issuer rotates, reusing the kid. Within the refresh interval of
	// the first fetch nothing is fetched: the token is refused.
	s.set(JWKSHandler(newPub))
	clock.Store(int64(jwksMinRefreshInterval / 2))
	if _, err := v.Verify(jwtFor(t, newKey, "k1", m), m.Body); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("new key within the refresh interval: %v, want ErrBadSignature", err)
	}
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches within the refresh interval, want 1", n)
	}

	// Past the interval, well within the hour: the failed check fetches
	// the set once, and the token verifies against the new key.
	clock.Store(int64(5 * time.Minute))
	got, err := v.Verify(jwtFor(t, newKey, "k1", m), m.Body)
	if err != nil || got.KeyID != "k1" {
		t.Fatalf("genuine token of the new key under the reused kid: %+v, %v (fetches %d)", got, err, s.fetches.Load())
	}
	if _, err := v.Verify(jwtFor(t, newKey, "k1", m), m.Body); err != nil {
		t.Fatalf("second token of the new key: %v", err)
	}
	// The old key is gone; its token is refused without another fetch.
	if _, err := v.Verify(jwtFor(t, oldKey, "k1", m), m.Body); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("token of the retired key: %v, want ErrBadSignature", err)
	}
	if n := s.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (first use, the rotation)", n)
	}
}

// TestJWKSBadSignatureFloodBounded: forged tokens naming a kid the set
// holds fetch the set again at most once per refresh interval, however
// many arrive and however concurrently: a failed signature check obeys the
// limit an unknown kid does. Genuine tokens verify throughout without a
// fetch.
func TestJWKSBadSignatureFloodBounded(t *testing.T) {
	good, forger := edKey(21), edKey(22)
	s := newJWKSServer(t, must(NewPublicKey(good.Public(), "k1"))(t))
	var clock atomic.Int64
	v := must(NewJWTVerifier(jwksAt(t, s, "/jwks.json", &clock), WithClock(asymClock)))(t)
	m := asymMsg()
	genuine, forged := jwtFor(t, good, "k1", m), jwtFor(t, forger, "k1", m)
	if _, err := v.Verify(genuine, m.Body); err != nil {
		t.Fatalf("genuine token: %v", err)
	}

	flood := func() {
		t.Helper()
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for range 8 {
					if _, err := v.Verify(forged, m.Body); !errors.Is(err, ErrBadSignature) {
						t.Errorf("forged token: %v, want ErrBadSignature", err)
						return
					}
				}
				if _, err := v.Verify(genuine, m.Body); err != nil {
					t.Errorf("genuine token during the flood: %v", err)
				}
			})
		}
		wg.Wait()
	}
	for _, step := range []struct {
		at   time.Duration
		want int32
	}{
		{0, 1},               // within the interval of the first fetch
		{5 * time.Minute, 2}, // one fetch for the whole flood
		{5*time.Minute + jwksMinRefreshInterval/2, 2}, // within the interval of that one
		{5*time.Minute + jwksMinRefreshInterval, 3},   // the next interval: one more
	} {
		clock.Store(int64(step.at))
		flood()
		if n := s.fetches.Load(); n != step.want {
			t.Fatalf("after a flood of 256 forged tokens at %v: %d fetches, want %d", step.at, n, step.want)
		}
	}
}
