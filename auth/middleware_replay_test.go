package auth

import (
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
	hub := must(newHub([]Secret{secret}))(t) // Hub signs no time
	stripe := must(newStripe([]Secret{secret}, clock))(t)
	jwtV := must(newJWT("HS256", []Secret{jwtSecret}, clock))(t)
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
	stripe := must(newStripe([]Secret{secret}, WithClock(func() time.Time { return mwStandardNow })))(t)
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
