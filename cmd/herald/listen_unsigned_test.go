package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/auth"
)

// TestListenDuplicateShowsTheSignedID: a captured hub request played again
// with a webhook-id header of the attacker's choosing is a duplicate, and
// herald listen's line for it shows the id the signature gives, as for the
// first request, never the unsigned header. (The line said
// "valid":true with the attacker's id.)
func TestListenDuplicateShowsTheSignedID(t *testing.T) {
	dir := t.TempDir()
	secret := strings.Repeat("s", 32)
	writeFile(t, dir, "hub.secret", secret)
	lp := startListen(t, dir, "--scheme", "hub", "--secret", "@hub.secret")
	hub, err := auth.NewHub([]auth.Secret{auth.NewSecret([]byte(secret))})
	if err != nil {
		t.Fatal(err)
	}
	const body = `{"n":1}`
	h := http.Header{}
	if err := hub.Sign(h, auth.Message{ID: "hint-1", Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	post := func(h http.Header) int {
		req, err := http.NewRequest(http.MethodPost, lp.url+"/hook", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(h); code != http.StatusNoContent {
		t.Fatalf("signed request: %d", code)
	}
	first := lp.next(t)
	id, _ := first["id"].(string)
	if first["valid"] != true || !strings.HasPrefix(id, "sig:") {
		t.Fatalf("line of the signed request: %v", first)
	}
	h.Set("Webhook-Id", "forged-id")
	if code := post(h); code != http.StatusOK {
		t.Fatalf("replay: %d, want 200 (a duplicate)", code)
	}
	if got := lp.next(t); got["duplicate"] != true || got["id"] != id {
		t.Errorf("line of the replay with another webhook-id: %v; want the duplicate of id %q", got, id)
	}
}
