package listener_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
)

// TestHTTPHandlerRefusalNamesSentinelOnly: HTTPHandler answers a refused
// request with the text of the auth sentinel it matches, as auth.Middleware
// does, and logs the rest. (It answered the verifier's whole error: for a
// JWT verifier on a JWKS, the key server's URL and the network error of
// its fetch, told to any unauthenticated client.)
func TestHTTPHandlerRefusalNamesSentinelOnly(t *testing.T) {
	// A port that refuses connections: the JWKS server is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const path = "/internal/tenant-acme-7f3a/jwks.json"
	jwks, err := auth.NewJWKS("https://"+addr+path+"?api_key=s3cret", nil)
	if err != nil {
		t.Fatal(err)
	}
	h := jwtIntake(t, jwks)

	// Any token of the right shape: header {"alg":"EdDSA","kid":"x"}.
	hdr := jsonHeader()
	hdr.Set("Authorization", "Bearer eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ.e30.AAAA")
	w := post(h, hdr, `{"id":"e","topic":"a:b"}`)
	t.Logf("answer to an unauthenticated request: %d %q", w.Code, w.Body.String())
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", w.Code)
	}
	for _, s := range []string{addr, path, "dial tcp"} {
		if strings.Contains(w.Body.String(), s) {
			t.Errorf("401 body shows %q to an unauthenticated client", s)
		}
	}
}

// jwtIntake returns an HTTPHandler verifying JWTs signed by the keys of
// jwks, for a listener that takes every event.
func jwtIntake(t *testing.T, jwks *auth.JWKS) *listener.HTTPHandler {
	t.Helper()
	v, err := auth.NewJWTVerifier(jwks)
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New()
	mustOn(t, l, "**", func(context.Context, *listener.Event) error { return nil })
	return &listener.HTTPHandler{Dispatcher: l, Verifier: v}
}
