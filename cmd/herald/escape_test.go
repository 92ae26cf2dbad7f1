package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
)

// hostile is what a signed sender may put in an id or a claim to drive the
// terminal of whoever reads herald's output: an ANSI colour, a CR that
// hides the line before it, a C1 CSI, a bidi override, an OSC title.
const (
	hostileID    = "ev-\x1b[31mred\rX\u009b2J\u202eZ"
	hostileTopic = "job:\x1b]0;pwned\x07 key=forged"
)

// raw reports the first character of s that a terminal would act on.
func raw(s string) (rune, bool) {
	for _, r := range s {
		if r != '\n' && !unicode.IsPrint(r) {
			return r, true
		}
	}
	return 0, false
}

// hostileToken signs a jwt whose jti and topic claim are hostile.
func hostileToken(t *testing.T, secret string, body []byte) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"jti": hostileID, "topic": hostileTopic, "body_sha256": bodySHA256(body),
	})
	s, err := tok.SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestVerifyEscapesSummary: a valid request whose id and topic hold control
// characters is summarised with them escaped and quoted, so that they
// neither reach the terminal nor forge a field. The starting code printed
// them raw.
func TestVerifyEscapesSummary(t *testing.T) {
	dir := t.TempDir()
	secret := strings.Repeat("k", 32)
	writeFile(t, dir, "body.json", body)
	writeFile(t, dir, "h.txt", "Authorization: Bearer "+hostileToken(t, secret, []byte(body))+"\n")
	r := must(t, runOpts{dir: dir}, "verify", "--scheme", "jwt", "--secret", secret, "--headers", "h.txt", "body.json")
	if c, ok := raw(r.all()); ok {
		t.Errorf("verify printed %U raw: %q", c, r.stdout)
	}
	for _, want := range []string{` id="ev-\x1b[31mred\rX\u009b2J\u202eZ" `, ` topic="job:\x1b]0;pwned\a key=forged"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary %q lacks %s", r.stdout, want)
		}
	}
}

// TestListenEscapesLines: listen's JSON line for such a request is valid
// JSON holding the id and topic as they were, with every character a
// terminal would act on escaped (encoding/json leaves C1 and bidi controls
// raw).
func TestListenEscapesLines(t *testing.T) {
	dir := t.TempDir()
	secret := strings.Repeat("k", 32)
	lp := startListen(t, dir, "--scheme", "jwt", "--secret", secret, "--print-body")
	b := `{"note":"` + "\u202e\u0085" + `"}`
	req, err := http.NewRequest(http.MethodPost, lp.url, strings.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+hostileToken(t, secret, []byte(b)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("listen answered %d", resp.StatusCode)
	}
	var line string
	select {
	case line = <-lp.lines:
	case <-time.After(30 * time.Second):
		t.Fatal("listen printed nothing")
	}
	if c, ok := raw(line); ok {
		t.Errorf("listen printed %U raw: %q", c, line)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("listen printed %q: %v", line, err)
	}
	if m["id"] != hostileID || m["topic"] != hostileTopic || m["body"] != b {
		t.Errorf("the line does not hold the id, topic and body as sent: %q", line)
	}
	if code := lp.stop(t); code != 0 {
		t.Errorf("listen exit %d", code)
	}
}

func TestField(t *testing.T) {
	for in, want := range map[string]string{
		"msg_1":         "msg_1",
		"a b":           `"a b"`,
		"a=b":           `"a=b"`,
		"\x1b[31m":      `"\x1b[31m"`,
		"x\ry":          `"x\ry"`,
		"\u202e":        `"\u202e"`,
		"\u009b":        `"\u009b"`,
		"caf\u00e9":     "caf\u00e9",
		"\xff":          `"\xff"`,
		`back\slash`:    `"back\\slash"`,
		"\u2028":        `"\u2028"`,
		"日本":            "日本",
		"-":             "-",
		"quote\"inside": `"quote\"inside"`,
	} {
		if got := field(in); got != want {
			t.Errorf("field(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzEscape: escapeText and field never let a character through that a
// terminal acts on (wire.FuzzEscapedJSON checks the JSON lines).
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", hostileID, hostileTopic, "\xff\xfe", "\U000e0001tag", "\u2028\u2029", "\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if e := escapeText(s); !isPrintable(e) {
			t.Errorf("escapeText(%q) = %q", s, e)
		}
		if isPrintable(s) && escapeText(s) != s {
			t.Errorf("escapeText changed printable %q", s)
		}
		if q := field(s); !isPrintable(q) || strings.ContainsAny(q, " =") && !strings.HasPrefix(q, `"`) {
			t.Errorf("field(%q) = %q", s, q)
		}
	})
}

// TestEscapingWriter: what http.Server logs through it is escaped line by
// line, its line breaks kept.
func TestEscapingWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := escapingWriter{f}
	if n, err := w.Write([]byte("one \x1b[2J\ntwo\r\n")); err != nil || n != 14 {
		t.Errorf("Write: %d, %v", n, err)
	}
	f.Close()
	got, _ := os.ReadFile(path)
	if string(got) != "one \\x1b[2J\ntwo\\r\n" {
		t.Errorf("wrote %q", got)
	}
}

// bodySHA256 is the body_sha256 claim of body: its SHA-256, unpadded base64url.
func bodySHA256(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// hostileName is a certificate name with terminal controls: a DNS name is
// an IA5String, so any ASCII byte fits, and Go's TLS errors quote it.
const hostileName = "\x1b]0;pwned\x07\x1b[2J\rforged"

// hostileShown is how the sender's error shows the start of hostileName:
// each control character as U+FFFD.
const hostileShown = "\uFFFD]0;pwned\uFFFD"

// hostileReceiver starts a TLS server whose certificate, its own CA, is
// valid for hostileName only, and writes that certificate to dir/ca.pem.
// It returns the server's https://localhost:PORT URL.
func hostileReceiver(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true, DNSNames: []string{hostileName},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // every handshake fails, by design
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return "https://localhost:" + u.Port() + "/hook"
}

// TestHostileReceiverTextEscaped: text a destination controls (here the
// names of its certificate, which Go's TLS error quotes) reaches what
// herald send prints, the relay's log and herald outbox list without its
// control characters (the sender shows them as U+FFFD), never raw to the
// terminal (issue #14, 12).
func TestHostileReceiverTextEscaped(t *testing.T) {
	dir := t.TempDir()
	dest := hostileReceiver(t, dir)
	secret, _ := stdSecret(t, dir)
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}

	r := herald(t, o, "send", "--secret", secret, "--cacert", "ca.pem", "--allow-private", "--retries", "0", dest, "body.json")
	if r.code == 0 || !strings.Contains(r.stdout, "certificate is valid for "+hostileShown) {
		t.Fatalf("send: exit %d, the certificate error is not shown escaped:\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	if c, ok := raw(r.stdout + r.stderr); ok {
		t.Errorf("send printed %U raw: %q", c, r.stdout+r.stderr)
	}

	p := startRelay(t, dir, nil, "--store", "relay.db", "--dest", dest, "--secret", secret, "--cacert", "ca.pem",
		"--allow-private", "--in-insecure", "--schedule", "0s,10ms")
	p.mustPost(t, event("e-1", "job:ready"), nil)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr(), "webhook dead-lettered") {
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter:\n%s", p.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d", code)
	}
	if c, ok := raw(p.stderr()); ok || !strings.Contains(p.stderr(), "certificate is valid for "+hostileShown) {
		t.Errorf("the relay's log shows %U raw, or not the certificate error escaped:\n%q", c, p.stderr())
	}
	l := must(t, o, "outbox", "list", "--store", "relay.db")
	if c, ok := raw(l.stdout + l.stderr); ok || !strings.Contains(l.stdout, "certificate is valid for "+hostileShown) {
		t.Errorf("outbox list shows %U raw, or not the certificate error escaped:\n%q", c, l.stdout)
	}
}
