package main

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldhq/herald/listener"
)

// TestRelayJWTInboundBindsTheBody: a relay verifying its events with
// --in-scheme jwt refuses a token without the body_sha256 claim. Such a
// token, valid for its signer's key (one the signer made for another
// purpose, with no aud), covers no byte of the body: whoever holds it could
// have the relay sign and deliver any event under it. (It was accepted,
// and the event it came with delivered.)
func TestRelayJWTInboundBindsTheBody(t *testing.T) {
	dir := t.TempDir()
	secret, rcv := relayReceiver(t, dir)
	inSecret := strings.Repeat("k", 32)
	p := startRelay(t, dir, []string{"IN_SECRET=" + inSecret},
		"--store", "relay.db", "--dest", rcv.URL(), "--secret", secret,
		"--in-scheme", "jwt", "--in-secret", "env:IN_SECRET",
		"--cacert", "ca.pem", "--allow-private")

	token := func(claims jwt.MapClaims) http.Header {
		now := time.Now()
		claims["iat"], claims["exp"] = now.Unix(), now.Add(time.Minute).Unix()
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(inSecret))
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{"Authorization": {"Bearer " + s}}
	}
	forged := event("forged-1", "job:ready")
	if code, msg := p.post(t, forged, token(jwt.MapClaims{"sub": "someone"})); code != http.StatusUnauthorized {
		t.Errorf("token without body_sha256: %d %q, want 401", code, msg)
	}
	body := event("in-1", "job:ready")
	sum := sha256.Sum256([]byte(body))
	p.mustPost(t, body, token(jwt.MapClaims{"jti": "in-1", "body_sha256": base64.RawURLEncoding.EncodeToString(sum[:])}))
	ds := waitOK(t, rcv, 1, p)
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d\n%s", code, p.stderr())
	}
	if len(rcv.Deliveries()) != 1 || ds[0].ID != listener.DeliveryID(&listener.Event{ID: "in-1", Topic: "job:ready"}, "default") {
		t.Errorf("receiver got %+v, want only the event whose body the token signs", rcv.Deliveries())
	}
}
