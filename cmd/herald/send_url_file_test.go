package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldhq/herald/sender/sendertest"
)

// TestSendURLFromFile: a webhook URL that carries its token in the path
// (Discord's /api/webhooks/<id>/<token>, Slack's /services/…) or query
// can be given to send as @FILE or env:NAME, as a secret can, so that the
// token stays out of ps; the delivery reaches the URL, nothing printed
// shows the token, and an error names neither the file nor its content.
func TestSendURLFromFile(t *testing.T) {
	const token = "d1sc0rdT0kenInPath"
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	secretText, v := stdSecret(t, dir)
	rcv := sendertest.NewReceiver(t, v)
	ca := writeFile(t, dir, "ok.pem", receiverCertPEM(t, rcv))
	hook := rcv.URL() + "/api/webhooks/123/" + token + "?wait=" + token
	urlFile := writeFile(t, dir, "hook.url", hook+"\n")
	o := runOpts{dir: dir, env: []string{"HERALD_TEST_HOOK=" + hook}}
	for _, arg := range []string{"@" + urlFile, "env:HERALD_TEST_HOOK"} {
		r := must(t, o, "send", "--secret", secretText, "--cacert", ca, "--allow-private", arg, "body.json")
		noLeak(t, r.all(), token)
	}
	if n := len(rcv.Deliveries()); n != 2 {
		t.Fatalf("receiver got %d deliveries, want 2", n)
	}

	missing := filepath.Join(dir, "tok_secretname.url")
	r := expect(t, o, 2, []string{"URL"}, "send", "--secret", secretText, "--allow-private", "@"+missing, "body.json")
	noLeak(t, r.all(), "tok_secretname")
	writeFile(t, dir, "bad.url", "https://exa mple.com/"+token+"\n")
	r = expect(t, o, 2, []string{"URL"}, "send", "--secret", secretText, "@bad.url", "body.json")
	noLeak(t, r.all(), token)
	if !strings.Contains(r.all(), "invalid destination URL") {
		t.Errorf("a file holding a bad URL: want the URL's error, got:\n%s", r.all())
	}
}

// TestRelayDestFromFile: relay's --dest takes @FILE and env:NAME as send's
// URL does; a file that cannot be read is an error that does not name it.
func TestRelayDestFromFile(t *testing.T) {
	dir := t.TempDir()
	secretText, _ := stdSecret(t, dir)
	o := runOpts{dir: dir}
	missing := filepath.Join(dir, "tok_secretname.url")
	r := expect(t, o, 2, []string{"--dest: cannot read"}, "relay", "--listen", "127.0.0.1:0", "--in-insecure",
		"--store", filepath.Join(dir, "outbox.db"), "--secret", secretText, "--dest", "@"+missing)
	noLeak(t, r.all(), "tok_secretname")
	expect(t, o, 2, []string{"--dest: environment variable HERALD_NO_SUCH_HOOK is not set"}, "relay", "--listen", "127.0.0.1:0", "--in-insecure",
		"--store", filepath.Join(dir, "outbox.db"), "--secret", secretText, "--dest", "env:HERALD_NO_SUCH_HOOK")
}
