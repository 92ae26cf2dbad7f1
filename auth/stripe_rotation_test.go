package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestStripeRotationReplay: during a Stripe secret rotation the header
// holds one v1 per secret (herald's own signer writes them so). A replay
// that drops the first secret's v1, so that the second matches, has the
// same Verified.ID and is refused as a replay: the handler runs once. (The
// ID was the digest of the v1 that matched, so each subset of v1 values
// was a new delivery.)
func TestStripeRotationReplay(t *testing.T) {
	now := func() time.Time { return mwStandardNow }
	newS := NewSecret([]byte("stripe-new-secret-0123456789abcd"))
	oldS := NewSecret([]byte("stripe-old-secret-0123456789abcd"))
	stripe := must(NewStripe([]Secret{newS, oldS}, WithClock(now)))(t)

	var runs atomic.Int32
	srv := httptest.NewServer(Middleware(stripe)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})))
	defer srv.Close()

	body := `{"id":"evt_1","type":"charge.succeeded"}`
	captured := mwSignedRequest(t, stripe, srv.URL, "", mwStandardNow, body)
	header := captured.Header.Get(HeaderStripeSignature)
	items := strings.Split(header, ",") // t=…, v1=<new>, v1=<old>
	if len(items) != 3 {
		t.Fatalf("header %q: want t and two v1", header)
	}
	variants := []string{
		header,                    // the genuine request
		items[0] + "," + items[2], // replay: only the old secret's v1
		items[2] + "," + items[0], // same, reordered
		items[0] + "," + items[1], // only the new secret's v1
	}
	for i, v := range variants {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set(HeaderStripeSignature, v)
		st, got := mwDo(t, srv.Client(), req)
		t.Logf("variant %d: %d %q", i, st, got)
	}
	if r := runs.Load(); r != 1 {
		t.Fatalf("handler ran %d times for one captured Stripe request, want 1", r)
	}
}
