package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// noJTISigner signs HS256 JWTs without a jti, as a sender other than
// herald may: the delivery id travels only in the unsigned webhook-id.
type noJTISigner struct{ now func() time.Time }

func (s noJTISigner) Sign(h http.Header, m Message) error {
	now := s.now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), claimBodySHA256: bodySHA256(m.Body),
	}).SignedString(jwtSecret.Bytes())
	if err != nil {
		return err
	}
	h.Set("Authorization", "Bearer "+tok)
	h.Set("webhook-id", m.ID)
	return nil
}

// replaySchemes are the schemes that sign no delivery id, each with a
// signer and the verifier under test, on the same clock.
func replaySchemes(t *testing.T) []struct {
	name string
	s    Signer
	v    Verifier
} {
	secret := NewSecret([]byte("hub-and-stripe-secret-0123456789"))
	clock := WithClock(func() time.Time { return mwStandardNow })
	hub := must(NewHub([]Secret{secret}))(t) // Hub signs no time
	stripe := must(NewStripe([]Secret{secret}, clock))(t)
	jwtV := must(NewJWT("HS256", []Secret{jwtSecret}, clock))(t)
	return []struct {
		name string
		s    Signer
		v    Verifier
	}{
		{"hub", hub, hub},
		{"stripe", stripe, stripe},
		{"jwt without jti", noJTISigner{func() time.Time { return mwStandardNow }}, jwtV},
	}
}

// For a scheme that signs no id, the replay key comes from the signature,
// never from the unsigned webhook-id header. A captured request played
// again under any number of fresh webhook-id values runs the handler
// once; played under the id of a genuine delivery still to come, it does
// not make that delivery look like a duplicate.
func TestMiddlewareReplayKeyIsSigned(t *testing.T) {
	for _, sc := range replaySchemes(t) {
		t.Run(sc.name, func(t *testing.T) {
			var runs atomic.Int32
			var mu sync.Mutex
			var ids []string
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				runs.Add(1)
				ver, _ := FromContext(r.Context())
				mu.Lock()
				ids = append(ids, ver.ID)
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			})
			srv := httptest.NewServer(Middleware(sc.v)(next))
			defer srv.Close()
			c := srv.Client()

			captured := mwSignedRequest(t, sc.s, srv.URL, "msg_1", mwStandardNow, `{"n":1}`)
			replay := func(id string) (int, string) {
				req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"n":1}`))
				req.Header = captured.Header.Clone()
				req.Header.Set("webhook-id", id)
				return mwDo(t, c, req)
			}
			if st, got := replay("msg_1"); st != 204 {
				t.Fatalf("genuine request: %d %q", st, got)
			}
			const n = 4
			for i := range n {
				if st, got := replay("evil_" + strconv.Itoa(i)); st != 200 || got != duplicateText {
					t.Fatalf("replay %d under a new webhook-id: %d %q, want the duplicate answer", i, st, got)
				}
			}
			// The attacker guesses the id of the next genuine delivery.
			if st, got := replay("msg_2"); st != 200 || got != duplicateText {
				t.Fatalf("replay under the future id: %d %q, want the duplicate answer", st, got)
			}
			genuine := mwSignedRequest(t, sc.s, srv.URL, "msg_2", mwStandardNow, `{"n":2}`)
			if st, got := mwDo(t, c, genuine); st != 204 {
				t.Fatalf("genuine msg_2 after the relabelled replay: %d %q, want 204 from the handler", st, got)
			}
			if r := runs.Load(); r != 2 {
				t.Fatalf("handler ran %d times, want 2 (msg_1 once, msg_2 once)", r)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if !strings.HasPrefix(id, "sig:") || len(id) != len("sig:")+64 {
					t.Errorf("Verified.ID %q, want sig: and a hex SHA-256", id)
				}
			}
			if ids[0] == ids[1] {
				t.Errorf("two deliveries share the Verified.ID %q", ids[0])
			}
		})
	}
}

// Extra signatures in a Stripe header, added by whoever relays a captured
// request, do not change the replay key: it is that of the v1 that
// matched.
func TestMiddlewareStripeJunkSignaturesSameKey(t *testing.T) {
	secret := NewSecret([]byte("hub-and-stripe-secret-0123456789"))
	stripe := must(NewStripe([]Secret{secret}, WithClock(func() time.Time { return mwStandardNow })))(t)
	var runs atomic.Int32
	srv := httptest.NewServer(Middleware(stripe)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
	})))
	defer srv.Close()
	captured := mwSignedRequest(t, stripe, srv.URL, "", mwStandardNow, "{}")
	header := captured.Header.Get(HeaderStripeSignature)
	for i, v := range []string{
		header,
		header + ",v1=" + strings.Repeat("0", 64),
		"v1=" + strings.Repeat("ab", 32) + "," + header + ",v0=00",
		header + ",v1=" + strings.Repeat("1", 64) + ",v1=" + strings.Repeat("2", 64),
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
		req.Header.Set(HeaderStripeSignature, v)
		st, got := mwDo(t, srv.Client(), req)
		if st != 200 || (i > 0) != (got == duplicateText) {
			t.Fatalf("variant %d: %d %q", i, st, got)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("handler ran %d times, want 1", runs.Load())
	}
}

func TestMiddlewareReplay(t *testing.T) {
	v := newMWTestVerifier()
	srv := httptest.NewServer(Middleware(v)(mwEchoHandler(t)))
	defer srv.Close()
	body := []byte(`{}`)

	if res := mwPost(t, srv.URL, v, "msg_r", mwTestNow, body, nil); res.status != 200 {
		t.Fatalf("first use: status %d (%q)", res.status, res.body)
	}
	// The same request again (a replay, or a sender that lost the answer)
	// is acknowledged without running next: the echo handler would have
	// set Verified-Id.
	res := mwPost(t, srv.URL, v, "msg_r", mwTestNow, body, nil)
	if res.status != 200 || strings.TrimSpace(res.body) != duplicateText || res.header.Get("Verified-Id") != "" {
		t.Fatalf("replay: status %d (%q, Verified-Id %q), want 200 %q from the middleware",
			res.status, res.body, res.header.Get("Verified-Id"), duplicateText)
	}
	// So is a re-signed attempt with the same id, the sender's retry.
	if res := mwPost(t, srv.URL, v, "msg_r", mwTestNow.Add(time.Second), body, nil); res.status != 200 || strings.TrimSpace(res.body) != duplicateText {
		t.Fatalf("re-signed same id: status %d (%q), want the duplicate answer", res.status, res.body)
	}
	// A failed verification does not consume the id.
	if res := mwPost(t, srv.URL, v, "msg_s", mwTestNow, body, func(r *http.Request) { r.Header.Set("Test-Signature", "00") }); res.status != 401 {
		t.Fatalf("forged: status %d", res.status)
	}
	if res := mwPost(t, srv.URL, v, "msg_s", mwTestNow, body, nil); res.status != 200 {
		t.Fatalf("genuine after forged: status %d (%q)", res.status, res.body)
	}
}

func TestMiddlewareReplayWindow(t *testing.T) {
	v := newMWTestVerifier()
	now := mwTestNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cache := newMemoryReplayCache(10)
	cache.now = clock
	h := Middleware(v, WithReplayCache(cache), WithReplayWindow(time.Minute), withMiddlewareClock(clock))(mwEchoHandler(t))

	serve := func() int {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x"))
		v.sign(req.Header, "msg_w", mwTestNow, []byte("x"))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := serve(); got != 200 {
		t.Fatalf("first: %d", got)
	}
	mu.Lock()
	now = now.Add(59 * time.Second)
	mu.Unlock()
	if got := serve(); got != 200 || begin(cache, "msg_w", now.Add(time.Minute)) != ReplayDone {
		t.Fatalf("inside the window: %d, want 200 with the id still recorded", got)
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	if got := serve(); got != 200 {
		t.Fatalf("after the window: %d, want 200", got)
	}
}

func TestMiddlewareReplayDisabled(t *testing.T) {
	v := newMWTestVerifier()
	srv := httptest.NewServer(Middleware(v, WithReplayCache(nil))(mwEchoHandler(t)))
	defer srv.Close()
	for i := range 2 {
		if res := mwPost(t, srv.URL, v, "msg_d", mwTestNow, []byte("x"), nil); res.status != 200 {
			t.Fatalf("use %d: status %d", i, res.status)
		}
	}
}

// A failed handler releases the id, so that the sender's retry (same id,
// fresh signature) is accepted; a successful one keeps it.
func TestMiddlewareReplayReleasedOnFailure(t *testing.T) {
	v := newMWTestVerifier()
	var calls atomic.Int32
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			http.Error(w, "database down", http.StatusServiceUnavailable)
		case 2:
			panic(http.ErrAbortHandler)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	})
	srv := httptest.NewServer(Middleware(v)(next))
	defer srv.Close()

	if res := mwPost(t, srv.URL, v, "msg_f", mwTestNow, []byte("x"), nil); res.status != 503 {
		t.Fatalf("attempt 1: %d, want 503", res.status)
	}
	// The aborted handler makes the server drop the connection.
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("x"))
	v.sign(req.Header, "msg_f", mwTestNow.Add(time.Second), []byte("x"))
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("attempt 2: got status %d, want a dropped connection", res.StatusCode)
	}
	if res := mwPost(t, srv.URL, v, "msg_f", mwTestNow.Add(2*time.Second), []byte("x"), nil); res.status != 202 {
		t.Fatalf("attempt 3: %d, want 202", res.status)
	}
	if res := mwPost(t, srv.URL, v, "msg_f", mwTestNow.Add(3*time.Second), []byte("x"), nil); res.status != 200 || strings.TrimSpace(res.body) != duplicateText {
		t.Fatalf("after success: %d (%q), want the duplicate answer", res.status, res.body)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("next ran %d times, want 3", n)
	}
}

// A request whose id is still being handled (the sender gave up waiting
// and retried) is answered 503 with Retry-After, without running next, and
// the retry after that gets the outcome of the first: the duplicate answer
// if it succeeded, a fresh run if it failed.
func TestMiddlewareReplayWhileRunning(t *testing.T) {
	for _, firstOK := range []bool{true, false} {
		t.Run(fmt.Sprintf("first ok %v", firstOK), func(t *testing.T) {
			v := newMWTestVerifier()
			var calls atomic.Int32
			entered, release := make(chan struct{}), make(chan struct{})
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					close(entered)
					<-release
					if !firstOK {
						w.WriteHeader(http.StatusInternalServerError)
						return
					}
				}
				w.WriteHeader(http.StatusNoContent)
			})
			srv := httptest.NewServer(Middleware(v)(next))
			defer srv.Close()

			first := make(chan mwResponse, 1)
			go func() {
				res, err := mwTryPost(srv.URL, v, "msg_slow", mwTestNow, []byte("x"), nil)
				if err != nil {
					t.Error(err)
				}
				first <- res
			}()
			<-entered
			res := mwPost(t, srv.URL, v, "msg_slow", mwTestNow.Add(time.Second), []byte("x"), nil)
			if res.status != 503 || res.header.Get("Retry-After") != "1" || strings.TrimSpace(res.body) != ErrReplay.Error() {
				t.Fatalf("while running: %d (%q, Retry-After %q), want 503 %q with Retry-After 1",
					res.status, res.body, res.header.Get("Retry-After"), ErrReplay.Error())
			}
			close(release)
			if res := <-first; (res.status == 204) != firstOK {
				t.Fatalf("first request: %d", res.status)
			}
			res = mwPost(t, srv.URL, v, "msg_slow", mwTestNow.Add(2*time.Second), []byte("x"), nil)
			wantCalls := int32(1)
			if firstOK {
				if res.status != 200 || strings.TrimSpace(res.body) != duplicateText {
					t.Fatalf("retry after success: %d (%q), want the duplicate answer", res.status, res.body)
				}
			} else {
				wantCalls = 2
				if res.status != 204 {
					t.Fatalf("retry after failure: %d, want 204 from next", res.status)
				}
			}
			if n := calls.Load(); n != wantCalls {
				t.Fatalf("next ran %d times, want %d", n, wantCalls)
			}
		})
	}
}

// Under pressure the replay cache never drops an id being handled: with
// the cache full of running ids, a new id is answered 503 with
// Retry-After, and a copy of a running request is still refused rather
// than run a second time alongside it. Once the runs end, each id is a
// duplicate and the refused one runs.
func TestMiddlewareReplayCacheFullOfRunning(t *testing.T) {
	v := newMWTestVerifier()
	const size = 4
	var calls atomic.Int32
	entered, release := make(chan struct{}, size), make(chan struct{})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= size {
			entered <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(Middleware(v, WithReplayCache(NewReplayCache(size)))(next))
	defer srv.Close()
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) }) // a failure must not leave handlers blocked

	var wg sync.WaitGroup
	for i := range size {
		wg.Go(func() {
			if res, err := mwTryPost(srv.URL, v, "msg_run"+strconv.Itoa(i), mwTestNow, []byte("x"), nil); err != nil || res.status != 204 {
				t.Errorf("running request %d: %+v, %v", i, res, err)
			}
		})
	}
	for range size {
		<-entered
	}
	res := mwPost(t, srv.URL, v, "msg_new", mwTestNow, []byte("x"), nil)
	if res.status != 503 || res.header.Get("Retry-After") != "1" || strings.TrimSpace(res.body) != ErrReplay.Error() {
		t.Fatalf("new id, cache full of running ids: %d %q (Retry-After %q), want 503 %q with Retry-After 1",
			res.status, res.body, res.header.Get("Retry-After"), ErrReplay.Error())
	}
	for i := range size {
		if res := mwPost(t, srv.URL, v, "msg_run"+strconv.Itoa(i), mwTestNow, []byte("x"), nil); res.status != 503 {
			t.Fatalf("copy of running request %d: %d %q, want 503", i, res.status, res.body)
		}
	}
	releaseOnce.Do(func() { close(release) })
	wg.Wait()
	for i := range size {
		if res := mwPost(t, srv.URL, v, "msg_run"+strconv.Itoa(i), mwTestNow, []byte("x"), nil); res.status != 200 || strings.TrimSpace(res.body) != duplicateText {
			t.Fatalf("copy of handled request %d: %d %q, want the duplicate answer", i, res.status, res.body)
		}
	}
	if res := mwPost(t, srv.URL, v, "msg_new", mwTestNow, []byte("x"), nil); res.status != 204 {
		t.Fatalf("refused id, retried: %d %q, want 204 from next", res.status, res.body)
	}
	if n := calls.Load(); n != size+1 {
		t.Fatalf("next ran %d times, want %d", n, size+1)
	}
}
