package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestReplayKeptForTolerance: a receiver that widens the tolerance (for a
// sender with a skewed clock, WithTolerance(30*time.Minute)) and keeps
// Middleware's default replay window still refuses a captured request for
// as long as its timestamp is accepted: its id is kept until then, as a
// JWT's is until its exp. (It was kept for the 10-minute window only, and
// the request ran again at 11 and 25 minutes.)
func TestReplayKeptForTolerance(t *testing.T) {
	signedAt := time.Now()
	var now atomic.Int64
	now.Store(signedAt.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }

	secret := NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	for _, c := range []struct {
		name string
		s    *Scheme
	}{
		{"standard", must(NewStandard([]Secret{secret}, WithTolerance(30*time.Minute), WithClock(clock)))(t)},
		{"stripe", must(NewStripe([]Secret{secret}, WithTolerance(30*time.Minute), WithClock(clock)))(t)},
	} {
		t.Run(c.name, func(t *testing.T) {
			now.Store(signedAt.UnixNano())
			cache := newMemoryReplayCache(0)
			cache.now = clock
			var runs atomic.Int32
			srv := httptest.NewServer(Middleware(c.s, WithReplayCache(cache), withMiddlewareClock(clock))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				runs.Add(1)
			})))
			defer srv.Close()
			captured := mwSignedRequest(t, c.s, srv.URL, "msg_1", signedAt, "{}")
			for _, after := range []time.Duration{0, 11 * time.Minute, 25 * time.Minute} {
				now.Store(signedAt.Add(after).UnixNano())
				req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
				req.Header = captured.Header.Clone()
				st, got := mwDo(t, srv.Client(), req)
				t.Logf("copy played %v after signing: %d %q", after, st, got)
			}
			if r := runs.Load(); r != 1 {
				t.Fatalf("handler ran %d times for one captured request, want 1", r)
			}
		})
	}
}
