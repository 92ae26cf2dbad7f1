package main

import (
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/sender/sendertest"
)

// TestSendHeaderFromFile: --header 'Name: @FILE' sends the file's content
// (so that a token stays out of ps), '@@' writes a literal @, and an error
// names neither the value nor the file.
func TestSendHeaderFromFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}
	secretText, v := stdSecret(t, dir)
	token := "Bearer tok_9f8e7d6c5b4a"
	tokenFile := writeFile(t, dir, "token.txt", token+"\n")
	rcv := sendertest.NewReceiver(t, v)
	ca := writeFile(t, dir, "ok.pem", receiverCertPEM(t, rcv))
	r := must(t, o, "send", "--secret", secretText, "--cacert", ca, "--allow-private",
		"--header", "Authorization: @"+tokenFile, "--header", "X-Handle: @@acme", rcv.URL(), "body.json")
	ds := rcv.Deliveries()
	if len(ds) != 1 {
		t.Fatalf("receiver got %d deliveries", len(ds))
	}
	if got := ds[0].Header.Get("Authorization"); got != token {
		t.Errorf("Authorization %q, want the file's content %q", got, token)
	}
	if got := ds[0].Header.Get("X-Handle"); got != "@acme" {
		t.Errorf("X-Handle %q, want @acme", got)
	}
	noLeak(t, r.all(), token, secretText)

	missing := filepath.Join(dir, "tok_secretname")
	r = expect(t, o, 2, []string{"--header Authorization"}, "send", "--secret", secretText, "--allow-private",
		"--header", "Authorization: @"+missing, rcv.URL(), "body.json")
	noLeak(t, r.all(), "tok_secretname")
	writeFile(t, dir, "bad.txt", "line one\nline two\n")
	r = expect(t, o, 2, []string{"--header Authorization"}, "send", "--secret", secretText, "--allow-private",
		"--header", "Authorization: @bad.txt", rcv.URL(), "body.json")
	noLeak(t, r.all(), "line one", "line two")
	// net/http writes Host and Content-Length itself: such a --header
	// would be dropped without a word.
	expect(t, o, 2, []string{"--header Host: net/http sets it"}, "send", "--secret", secretText, "--allow-private",
		"--header", "Host: evil.example", rcv.URL(), "body.json")
	// Spaces around a file's value are no part of it, as around a typed one.
	writeFile(t, dir, "spaced.txt", " "+token+" \n")
	must(t, o, "send", "--secret", secretText, "--cacert", ca, "--allow-private",
		"--header", "Authorization: @spaced.txt", rcv.URL(), "body.json")
	if ds := rcv.Deliveries(); len(ds) != 2 || ds[1].Header.Get("Authorization") != token {
		t.Errorf("a file with spaces around the token: sent %q, want %q", ds[len(ds)-1].Header.Get("Authorization"), token)
	}
}
