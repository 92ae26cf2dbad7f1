package listener_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
)

// TestHTTPHandlerKeyFetchFollowsRequestContext: HTTPHandler verifies under
// the request's context, as auth.Middleware does, so a client that hangs
// up while the key server is slow frees its handler at once. (It called
// Verify, and the JWKS fetch held the handler for its full 10 s.)
func TestHTTPHandlerKeyFetchFollowsRequestContext(t *testing.T) {
	release := make(chan struct{})
	keys := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer keys.Close()
	defer close(release)
	jwks, err := auth.NewJWKS(keys.URL+"/jwks.json", keys.Client())
	if err != nil {
		t.Fatal(err)
	}
	h := jwtIntake(t, jwks)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"id":"e","topic":"a:b"}`)).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ.e30.AAAA")
	start := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	took := time.Since(start)
	t.Logf("%d %q after %v (request deadline 200ms)", rec.Code, rec.Body.String(), took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Fatalf("the handler waited %v for the key fetch, past its request's end", took.Round(time.Millisecond))
	}
}
