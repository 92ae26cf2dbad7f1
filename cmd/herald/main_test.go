package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/sender/sendertest"
)

// heraldBin is the binary built once by TestMain.
var heraldBin string

func TestMain(m *testing.M) {
	// A fuzzing run (the coordinator and each of its workers) runs one
	// in-process Fuzz target and no test, so it needs no binary: skipping
	// the build keeps CI's fuzz step within its time.
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "herald-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	heraldBin = filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-o", heraldBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building herald:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := pgtest.Main(m) // m.Run, then stop the PostgreSQL cluster if a test started one
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary produced.
type result struct {
	stdout, stderr string
	code           int
}

// all returns stdout and stderr together, for leak checks.
func (r result) all() string { return r.stdout + r.stderr }

// runOpts tunes one run.
type runOpts struct {
	dir   string   // working directory
	stdin string   // standard input
	env   []string // extra environment
}

// herald runs the binary with args in dir and returns what it printed and
// its exit status.
func herald(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, heraldBin, args...)
	cmd.Dir = o.dir
	cmd.Stdin = strings.NewReader(o.stdin)
	cmd.Env = append(os.Environ(), o.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("herald %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{stdout.String(), stderr.String(), code}
}

// must runs herald and fails the test unless it exits 0.
func must(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	r := herald(t, o, args...)
	if r.code != 0 {
		t.Fatalf("herald %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// expect runs herald and fails the test unless it exits with code and its
// stderr contains every one of want.
func expect(t *testing.T, o runOpts, code int, want []string, args ...string) result {
	t.Helper()
	r := herald(t, o, args...)
	if r.code != code {
		t.Fatalf("herald %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("herald %s: stderr %q does not contain %q", strings.Join(args, " "), r.stderr, w)
		}
	}
	return r
}

// writeFile writes a file in dir and returns its name.
func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noLeak fails if any of the secrets appears in out.
func noLeak(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("output reveals a secret:\n%s", out)
		}
	}
}

const body = `{"type":"job:ready","data":{"n":1}}` + "\n"

// schemeCase is one scheme configured for a round trip: flags that sign,
// flags that verify, and the secrets that must never be printed.
type schemeCase struct {
	name    string
	scheme  string
	sign    []string
	verify  []string
	secrets []string
}

// schemeCases makes keys with herald keygen, in dir, for every scheme.
func schemeCases(t *testing.T, dir string) []schemeCase {
	t.Helper()
	o := runOpts{dir: dir}
	line := func(args ...string) string { return strings.TrimSpace(must(t, o, args...).stdout) }

	std := line("keygen", "--scheme", "standard")
	v1a := strings.Fields(must(t, o, "keygen", "--scheme", "standard-v1a").stdout)
	if len(v1a) != 2 {
		t.Fatalf("keygen standard-v1a printed %d fields, want 2", len(v1a))
	}
	hub := line("keygen", "--scheme", "hub")
	stripe := line("keygen", "--scheme", "stripe")
	hs := line("keygen", "--scheme", "jwt", "--alg", "HS256")
	esJWKS := line("keygen", "--scheme", "jwt", "--alg", "ES256", "--out", "es")
	writeFile(t, dir, "es.jwks", esJWKS)
	line("keygen", "--scheme", "jwt", "--alg", "EdDSA", "--out", "ed")
	line("keygen", "--scheme", "standard-v1a", "--out", "v1a")
	esKey, _ := os.ReadFile(filepath.Join(dir, "es.key"))
	edKey, _ := os.ReadFile(filepath.Join(dir, "ed.key"))
	v1aKey, _ := os.ReadFile(filepath.Join(dir, "v1a.key"))

	return []schemeCase{
		{"standard", "standard", []string{"--secret", std}, []string{"--secret", std}, []string{std, strings.TrimPrefix(std, "whsec_")}},
		{"standard-v1a", "standard-v1a", []string{"--key", v1a[0]}, []string{"--pubkey", v1a[1]}, []string{v1a[0], strings.TrimPrefix(v1a[0], "whsk_")}},
		{"standard-v1a-files", "standard-v1a", []string{"--key", "@v1a.key"}, []string{"--pubkey", "v1a.pub"}, []string{strings.TrimSpace(string(v1aKey))}},
		{"hub", "hub", []string{"--secret", hub}, []string{"--secret", hub}, []string{hub}},
		{"stripe", "stripe", []string{"--secret", stripe}, []string{"--secret", stripe}, []string{stripe}},
		{"jwt-HS256", "jwt", []string{"--secret", hs}, []string{"--secret", hs, "--alg", "HS256"}, []string{hs}},
		{"jwt-ES256", "jwt", []string{"--key", "es.key", "--audience", "https://rx.example/hook"}, []string{"--pubkey", "es.pub", "--audience", "https://rx.example/hook"}, []string{pemBody(esKey)}},
		{"jwt-ES256-jwks", "jwt", []string{"--key", "es.key", "--issuer", "acme"}, []string{"--pubkey", "es.jwks", "--issuer", "acme", "--alg", "ES256"}, []string{pemBody(esKey)}},
		{"jwt-EdDSA", "jwt", []string{"--key", "ed.key"}, []string{"--pubkey", "ed.pub"}, []string{pemBody(edKey)}},
	}
}

// pemBody returns the base64 lines of a PEM document joined, or the first of
// them: a string that any printing of the key would contain.
func pemBody(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 3 {
		return "no key read"
	}
	return lines[1]
}

func TestSignVerifyRoundTrip(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	writeFile(t, dir, "tampered.json", strings.Replace(body, `"n":1`, `"n":2`, 1))
	for _, c := range schemeCases(t, dir) {
		t.Run(c.name, func(t *testing.T) {
			o := runOpts{dir: dir}
			id := "msg_" + c.name
			args := append([]string{"sign", "--scheme", c.scheme, "--id", id, "--topic", "job:ready"}, c.sign...)
			signed := must(t, o, append(args, "body.json")...)
			hfile := writeFile(t, dir, c.name+".headers", signed.stdout)
			if !strings.Contains(signed.stdout, "Webhook-Id: "+id+"\n") {
				t.Errorf("sign output lacks the id:\n%s", signed.stdout)
			}

			v := append([]string{"verify", "--scheme", c.scheme, "--headers", hfile}, c.verify...)
			ok := must(t, o, append(v, "body.json")...)
			want := fmt.Sprintf("valid scheme=%s id=%s ", c.scheme, id)
			if c.scheme == "hub" || c.scheme == "stripe" {
				// They sign no id: the verified id is derived from the
				// signature, never the unsigned Webhook-Id header.
				want = fmt.Sprintf("valid scheme=%s id=sig:", c.scheme)
			}
			if !strings.HasPrefix(ok.stdout, want) {
				t.Errorf("verify printed %q, want prefix %q", ok.stdout, want)
			}

			// The body from standard input verifies too.
			must(t, runOpts{dir: dir, stdin: body}, append(v, "-")...)

			bad := expect(t, o, 1, []string{"invalid"}, append(v, "tampered.json")...)
			if bad.stdout != "" {
				t.Errorf("invalid request printed to stdout: %q", bad.stdout)
			}
			for _, r := range []result{signed, ok, bad} {
				noLeak(t, r.all(), c.secrets...)
			}
		})
	}
}

func TestSignDeterministic(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	args := []string{"sign", "--secret", secret, "--id", "msg_1", "--timestamp", "1700000000", "body.json"}
	a, b := must(t, o, args...), must(t, o, args...)
	if a.stdout != b.stdout {
		t.Fatalf("sign is not deterministic:\n%s\n%s", a.stdout, b.stdout)
	}
	lines := strings.Split(strings.TrimSpace(a.stdout), "\n")
	var names []string
	for _, l := range lines {
		n, _, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("line %q is not \"Name: value\"", l)
		}
		names = append(names, n)
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] > names[i] {
			t.Errorf("headers not sorted: %v", names)
		}
	}
	if !strings.Contains(a.stdout, "Webhook-Timestamp: 1700000000\n") {
		t.Errorf("--timestamp not used:\n%s", a.stdout)
	}
	noLeak(t, a.all(), secret, strings.TrimPrefix(secret, "whsec_"))

	// Without --id, every run gets a new id.
	c := must(t, o, "sign", "--secret", secret, "body.json")
	d := must(t, o, "sign", "--secret", secret, "body.json")
	if c.stdout == d.stdout {
		t.Errorf("two signs without --id gave the same headers")
	}
}

func TestVerifyOldRequestWithNow(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	h := must(t, o, "sign", "--secret", secret, "--id", "old", "--timestamp", "1700000000", "body.json").stdout
	writeFile(t, dir, "h.txt", "# captured\nPOST /hook HTTP/1.1\r\n"+strings.ReplaceAll(h, "\n", "\r\n")+"\n")
	expect(t, o, 1, []string{"invalid", "too old"}, "verify", "--secret", secret, "--headers", "h.txt", "body.json")
	r := must(t, o, "verify", "--secret", secret, "--headers", "h.txt", "--now", "1700000100", "body.json")
	if !strings.Contains(r.stdout, "time=2023-11-14T22:13:20Z") {
		t.Errorf("summary lacks the timestamp: %q", r.stdout)
	}
	// Headers from standard input, flags after the body argument.
	must(t, runOpts{dir: dir, stdin: h}, "verify", "body.json", "--secret", secret, "--headers", "-", "--now", "1700000000")
	// Outside --tolerance of --now.
	expect(t, o, 1, []string{"too old"}, "verify", "--secret", secret, "--headers", "h.txt", "--now", "1700000100", "--tolerance", "1m", "body.json")
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}
	oldS := strings.TrimSpace(must(t, o, "keygen").stdout)
	newS := strings.TrimSpace(must(t, o, "keygen").stdout)
	other := strings.TrimSpace(must(t, o, "keygen").stdout)
	h := must(t, o, "sign", "--secret", newS, "--secret", oldS, "--id", "rot", "body.json").stdout
	if n := strings.Count(h, "v1,"); n != 2 {
		t.Fatalf("signing with two secrets gave %d signatures:\n%s", n, h)
	}
	writeFile(t, dir, "h.txt", h)
	r := must(t, o, "verify", "--secret", other, "--secret", oldS, "--headers", "h.txt", "body.json")
	if !strings.Contains(r.stdout, " key=1") {
		t.Errorf("want the second secret to match: %q", r.stdout)
	}
	expect(t, o, 1, []string{"signature mismatch"}, "verify", "--secret", other, "--headers", "h.txt", "body.json")
}

func TestKeygenOutputParses(t *testing.T) {
	dir := t.TempDir()
	o := runOpts{dir: dir}

	std := strings.TrimSpace(must(t, o, "keygen", "--scheme", "standard").stdout)
	if s, err := auth.ParseStandardSecret(std); err != nil || len(s.Bytes()) != 32 {
		t.Errorf("standard secret: len %d, %v", len(s.Bytes()), err)
	}

	v1a := strings.Fields(must(t, o, "keygen", "--scheme", "standard-v1a").stdout)
	sk, err := auth.ParsePrivateKey([]byte(v1a[0]), "")
	if err != nil {
		t.Fatal(err)
	}
	pk, err := auth.ParsePublicKey([]byte(v1a[1]), "")
	if err != nil {
		t.Fatal(err)
	}
	if sk.Public().Thumbprint() != pk.Thumbprint() {
		t.Errorf("whpk_ is not the public half of whsk_")
	}

	for alg, min := range map[string]int{"HS256": 32, "HS384": 48, "HS512": 64} {
		s := strings.TrimSpace(must(t, o, "keygen", "--scheme", "jwt", "--alg", alg).stdout)
		if _, err := auth.NewJWT(alg, []auth.Secret{auth.NewSecret([]byte(s))}); err != nil || len(s) < min {
			t.Errorf("jwt %s secret of %d bytes: %v", alg, len(s), err)
		}
	}
	hub := strings.TrimSpace(must(t, o, "keygen", "--scheme", "hub").stdout)
	if _, err := auth.NewHub([]auth.Secret{auth.NewSecret([]byte(hub))}); err != nil || len(hub) != 64 {
		t.Errorf("hub secret %d bytes: %v", len(hub), err)
	}
	stripe := strings.TrimSpace(must(t, o, "keygen", "--scheme", "stripe").stdout)
	if _, err := auth.NewStripe([]auth.Secret{auth.NewSecret([]byte(stripe))}); err != nil || !strings.HasPrefix(stripe, "whsec_") {
		t.Errorf("stripe secret: %v", err)
	}
	if a, b := must(t, o, "keygen").stdout, must(t, o, "keygen").stdout; a == b {
		t.Errorf("keygen repeats itself")
	}

	for _, alg := range []string{"ES256", "EdDSA"} {
		prefix := "k-" + alg
		r := must(t, o, "keygen", "--scheme", "jwt", "--alg", alg, "--out", prefix)
		keys, err := auth.ParseJWKS([]byte(r.stdout))
		if err != nil || len(keys) != 1 {
			t.Fatalf("%s: JWKS output: %d keys, %v", alg, len(keys), err)
		}
		privPEM, _ := os.ReadFile(filepath.Join(dir, prefix+".key"))
		priv, err := auth.ParsePrivateKey(privPEM, "")
		if err != nil {
			t.Fatalf("%s: %s.key: %v", alg, prefix, err)
		}
		if blk, _ := pem.Decode(privPEM); blk == nil || blk.Type != "PRIVATE KEY" {
			t.Errorf("%s: %s.key is not PKCS #8 PEM", alg, prefix)
		}
		pubPEM, _ := os.ReadFile(filepath.Join(dir, prefix+".pub"))
		pub, err := auth.ParsePublicKey(pubPEM, "")
		if err != nil {
			t.Fatalf("%s: %s.pub: %v", alg, prefix, err)
		}
		if priv.Public().Thumbprint() != pub.Thumbprint() || pub.Thumbprint() != keys[0].Thumbprint() || keys[0].Algorithm() != alg {
			t.Errorf("%s: the .key, .pub and JWKS do not hold one key pair", alg)
		}
		if keys[0].ID() != pub.Thumbprint() {
			t.Errorf("%s: JWKS kid %q is not the thumbprint %q", alg, keys[0].ID(), pub.Thumbprint())
		}
		fi, err := os.Stat(filepath.Join(dir, prefix+".key"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %s.key mode %v, want 0600 (%v)", alg, prefix, fi.Mode().Perm(), err)
		}
		noLeak(t, r.all(), pemBody(privPEM))
		// Never overwrites.
		expect(t, o, 1, []string{"already exists"}, "keygen", "--scheme", "jwt", "--alg", alg, "--out", prefix)
		if again, _ := os.ReadFile(filepath.Join(dir, prefix+".key")); !bytes.Equal(again, privPEM) {
			t.Errorf("%s: keygen replaced an existing key", alg)
		}
	}
	expect(t, o, 2, []string{"--out PREFIX is required"}, "keygen", "--scheme", "jwt", "--alg", "ES256")
	expect(t, o, 2, []string{"unknown scheme"}, "keygen", "--scheme", "nope")
	expect(t, o, 2, []string{"unknown --alg"}, "keygen", "--scheme", "jwt", "--alg", "none")
	expect(t, o, 2, []string{"--alg applies to scheme jwt only"}, "keygen", "--scheme", "hub", "--alg", "HS256")

	// --out for a symmetric secret writes a 0600 file that --secret @FILE reads.
	r := must(t, o, "keygen", "--scheme", "hub", "--out", "hub")
	if r.stdout != "" {
		t.Errorf("keygen --out printed the secret: %q", r.stdout)
	}
	if fi, err := os.Stat(filepath.Join(dir, "hub.secret")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("hub.secret: %v", err)
	}
	writeFile(t, dir, "body.json", body)
	writeFile(t, dir, "h.txt", must(t, o, "sign", "--scheme", "hub", "--secret", "@hub.secret", "body.json").stdout)
	must(t, o, "verify", "--scheme", "hub", "--secret", "@hub.secret", "--headers", "h.txt", "body.json")
}

// listenProc is a running "herald listen".
type listenProc struct {
	cmd    *exec.Cmd
	url    string
	lines  chan string // stdout lines
	stderr *bytes.Buffer
	done   chan error
}

// startListen starts herald listen with args and waits until it is ready.
func startListen(t *testing.T, dir string, args ...string) *listenProc {
	t.Helper()
	cmd := exec.Command(heraldBin, append([]string{"listen", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &listenProc{cmd: cmd, lines: make(chan string, 100), stderr: new(bytes.Buffer), done: make(chan error, 1)}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	ready := make(chan string, 1)
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		sc := bufio.NewScanner(stderrPipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.WriteString(line + "\n")
			if u, ok := strings.CutPrefix(line, "listening on "); ok {
				ready <- u
			}
		}
	}()
	stdoutDone := make(chan struct{})
	go func() {
		defer close(stdoutDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		<-stderrDone
		<-stdoutDone
		p.done <- cmd.Wait()
	}()
	select {
	case p.url = <-ready:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("listen exited before it was ready: %v\n%s", err, p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("listen did not get ready:\n%s", p.stderr)
	}
	return p
}

// next returns the next JSON line that listen printed.
func (p *listenProc) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			t.Fatalf("listen closed its output\n%s", p.stderr)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("listen printed a line that is not JSON: %q", line)
		}
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("listen printed nothing")
	}
	return nil
}

// stop sends SIGTERM and returns listen's exit status.
func (p *listenProc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		t.Fatal("listen did not stop on SIGTERM")
	}
	return -1
}

// sendLine parses the JSON line that send printed.
func sendLine(t *testing.T, r result) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("send printed %q, want one JSON line (%v)\nstderr: %s", r.stdout, err, r.stderr)
	}
	for _, k := range []string{"id", "status", "attempts", "latency_ms", "error"} {
		if _, ok := m[k]; !ok {
			t.Errorf("send's JSON line lacks %q: %s", k, r.stdout)
		}
	}
	return m
}

func TestSendToListen(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}
	secret := strings.TrimSpace(must(t, o, "keygen").stdout)
	writeFile(t, dir, "secret.txt", secret+"\n")
	must(t, o, "keygen", "--scheme", "jwt", "--alg", "EdDSA", "--out", "ed")
	edKey, _ := os.ReadFile(filepath.Join(dir, "ed.key"))
	wrong := strings.TrimSpace(must(t, o, "keygen").stdout)

	cases := []struct {
		name       string
		listen     []string
		send       []string
		wrongSend  []string
		secrets    []string
		wantTopic  string // only a jwt carries one, signed
		wantScheme string
	}{
		{"standard", []string{"--secret", "@secret.txt"}, []string{"--secret", "env:WH_SECRET"}, []string{"--secret", wrong}, []string{secret, wrong}, "", "standard"},
		{"jwt-EdDSA", []string{"--scheme", "jwt", "--pubkey", "ed.pub", "--issuer", "acme"}, []string{"--scheme", "jwt", "--key", "ed.key", "--issuer", "acme"}, []string{"--scheme", "jwt", "--key", "ed.key", "--issuer", "evil"}, []string{pemBody(edKey)}, "job:ready", "jwt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			certOut := "cert-" + c.name + ".pem"
			lp := startListen(t, dir, append(c.listen, "--self-signed", "--cert-out", certOut, "--print-body")...)
			if !strings.HasPrefix(lp.url, "https://127.0.0.1:") || strings.HasSuffix(lp.url, ":0") {
				t.Fatalf("listen reported %q", lp.url)
			}
			so := runOpts{dir: dir, env: []string{"WH_SECRET=" + secret}}
			send := func(extra []string, id string) result {
				args := append([]string{"send", "--cacert", certOut, "--allow-private", "--id", id, "--topic", "job:ready", "--retries", "0"}, extra...)
				return herald(t, so, append(args, lp.url+"/hook", "body.json")...)
			}

			r := send(c.send, "msg-ok-"+c.name)
			if r.code != 0 {
				t.Fatalf("send: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			m := sendLine(t, r)
			if m["status"] != 204.0 || m["attempts"] != 1.0 || m["error"] != nil || m["id"] != "msg-ok-"+c.name {
				t.Errorf("send result %s", r.stdout)
			}
			got := lp.next(t)
			if got["valid"] != true || got["id"] != "msg-ok-"+c.name || got["scheme"] != c.wantScheme ||
				got["topic"] != c.wantTopic || got["bytes"] != float64(len(body)) || got["body"] != body || got["error"] != nil || got["duplicate"] != nil {
				t.Errorf("listen line for a valid request: %v", got)
			}

			// The same id again, as a sender's retry after a lost answer:
			// acknowledged with 200, and shown as a duplicate.
			r = send(c.send, "msg-ok-"+c.name)
			if m := sendLine(t, r); r.code != 0 || m["status"] != 200.0 {
				t.Errorf("repeated send: exit %d, %s", r.code, r.stdout)
			}
			if got := lp.next(t); got["valid"] != true || got["duplicate"] != true || got["status"] != 200.0 ||
				got["id"] != "msg-ok-"+c.name || got["error"] != nil {
				t.Errorf("listen line for a repeated id: %v", got)
			}

			// A wrong key is refused with 401, and send says so.
			r = send(c.wrongSend, "msg-bad-"+c.name)
			m = sendLine(t, r)
			if r.code != 1 || m["status"] != 401.0 || m["error"] == nil {
				t.Errorf("send with a wrong key: exit %d, %s", r.code, r.stdout)
			}
			got = lp.next(t)
			if got["valid"] != false || got["id"] != "msg-bad-"+c.name || got["status"] != 401.0 || got["error"] == nil {
				t.Errorf("listen line for an invalid request: %v", got)
			}
			noLeak(t, r.all(), c.secrets...)

			if code := lp.stop(t); code != 0 {
				t.Errorf("listen exit %d on SIGTERM, want 0\n%s", code, lp.stderr)
			}
			noLeak(t, lp.stderr.String(), c.secrets...)
		})
	}
}

// receiverCertPEM fetches the certificate of a sendertest receiver as PEM,
// for --cacert.
func receiverCertPEM(t testing.TB, rcv *sendertest.Receiver) string {
	t.Helper()
	u, err := url.Parse(rcv.URL())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: rcv.RootCAs()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	der := conn.ConnectionState().PeerCertificates[0].Raw
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestSendToSendertest(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}
	secretText, v := stdSecret(t, dir)

	t.Run("delivered", func(t *testing.T) {
		rcv := sendertest.NewReceiver(t, v)
		ca := writeFile(t, dir, "ok.pem", receiverCertPEM(t, rcv))
		r := must(t, o, "send", "--secret", secretText, "--cacert", ca, "--allow-private",
			"--header", "X-Env: test", "--content-type", "application/cloudevents+json", rcv.URL()+"/in", "body.json")
		m := sendLine(t, r)
		ds := rcv.Deliveries()
		if len(ds) != 1 || ds[0].Err != nil {
			t.Fatalf("receiver got %d deliveries: %+v", len(ds), ds)
		}
		d := ds[0]
		if string(d.Body) != body || d.Header.Get("X-Env") != "test" || d.Header.Get("Content-Type") != "application/cloudevents+json" ||
			d.ID != m["id"] || m["status"] != 200.0 || d.Verified.Scheme != "standard" {
			t.Errorf("delivery %+v, result %v", d, m)
		}
		noLeak(t, r.all(), secretText)
	})

	t.Run("failing", func(t *testing.T) {
		rcv := sendertest.NewReceiver(t, v, sendertest.FailFirst(100, 503))
		ca := writeFile(t, dir, "fail.pem", receiverCertPEM(t, rcv))
		r := herald(t, o, "send", "--secret", secretText, "--cacert", ca, "--allow-private", "--retries", "1", "--id", "msg-503", rcv.URL(), "body.json")
		m := sendLine(t, r)
		if r.code != 1 || m["status"] != 503.0 || m["attempts"] != 2.0 || m["id"] != "msg-503" {
			t.Errorf("send to a failing server: exit %d, %s", r.code, r.stdout)
		}
		if e, _ := m["error"].(string); !strings.Contains(e, "503") && !strings.Contains(e, "failed") {
			t.Errorf("error %q does not say what failed", e)
		}
		if len(rcv.Deliveries()) != 2 {
			t.Errorf("receiver got %d requests, want 2", len(rcv.Deliveries()))
		}
		noLeak(t, r.all(), secretText)
	})

	t.Run("gone", func(t *testing.T) {
		rcv := sendertest.NewReceiver(t, v, sendertest.Gone())
		ca := writeFile(t, dir, "gone.pem", receiverCertPEM(t, rcv))
		r := herald(t, o, "send", "--secret", secretText, "--cacert", ca, "--allow-private", rcv.URL(), "body.json")
		m := sendLine(t, r)
		if r.code != 1 || m["status"] != 410.0 || !strings.Contains(fmt.Sprint(m["error"]), "gone") {
			t.Errorf("send to a gone destination: exit %d, %s", r.code, r.stdout)
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		rcv := sendertest.NewReceiver(t, v)
		r := herald(t, o, "send", "--secret", secretText, "--allow-private", "--retries", "0", rcv.URL(), "body.json")
		m := sendLine(t, r)
		if r.code != 1 || m["error"] == nil || len(rcv.Deliveries()) != 0 {
			t.Errorf("send to an untrusted certificate: exit %d, %s", r.code, r.stdout)
		}
	})

	t.Run("guarded", func(t *testing.T) {
		rcv := sendertest.NewReceiver(t, v)
		ca := writeFile(t, dir, "guard.pem", receiverCertPEM(t, rcv))
		r := herald(t, o, "send", "--secret", secretText, "--cacert", ca, rcv.URL(), "body.json")
		m := sendLine(t, r)
		if r.code != 1 || !strings.Contains(fmt.Sprint(m["error"]), "not allowed") || !strings.Contains(r.stderr, "--allow-private") || len(rcv.Deliveries()) != 0 {
			t.Errorf("send to loopback without --allow-private: exit %d, %s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		r := herald(t, o, "send", "--secret", secretText, "--allow-private", "--retries", "0", "https://"+addr+"/", "body.json")
		m := sendLine(t, r)
		if r.code != 1 || m["status"] != 0.0 || !strings.Contains(fmt.Sprint(m["error"]), "network") {
			t.Errorf("send to a closed port: exit %d, %s", r.code, r.stdout)
		}
	})
}

func TestPlainHTTPListen(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}
	secret := strings.TrimSpace(must(t, o, "keygen", "--scheme", "hub").stdout)
	lp := startListen(t, dir, "--scheme", "hub", "--secret", secret, "--max-body", "10")
	if !strings.HasPrefix(lp.url, "http://127.0.0.1:") {
		t.Fatalf("listen reported %q", lp.url)
	}
	expect(t, o, 2, []string{"--insecure-http"}, "send", "--scheme", "hub", "--secret", secret, "--allow-private", lp.url, "body.json")
	r := herald(t, o, "send", "--scheme", "hub", "--secret", secret, "--allow-private", "--insecure-http", "--retries", "0", lp.url, "body.json")
	if m := sendLine(t, r); r.code != 1 || m["status"] != 413.0 {
		t.Errorf("body over --max-body: exit %d, %s", r.code, r.stdout)
	}
	if got := lp.next(t); got["valid"] != false || got["status"] != 413.0 {
		t.Errorf("listen line for a large body: %v", got)
	}
	if code := lp.stop(t); code != 0 {
		t.Errorf("listen exit %d, want 0", code)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	short := "whsec_c2hvcnQ=" // a secret that is too short
	writeFile(t, dir, "h.txt", must(t, o, "sign", "--secret", secret, "body.json").stdout)
	writeFile(t, dir, "nocolon.txt", "Webhook-Id: x\nthis line has none\n")
	writeFile(t, dir, "badname.txt", "Webhook-Id: x\nBad Name: y\n")
	writeFile(t, dir, "empty.txt", "\n# nothing\n")
	writeFile(t, dir, "huge.json", strings.Repeat("x", maxBodyFile+1))
	os.Mkdir(filepath.Join(dir, "adir"), 0o755)

	type tc struct {
		name string
		code int
		want []string
		args []string
		env  []string
	}
	cases := []tc{
		{"no args", 2, []string{"keygen", "listen", "send", "sign", "verify"}, nil, nil},
		{"unknown command", 2, []string{`unknown command "frobnicate"`}, []string{"frobnicate"}, nil},
		{"unknown flag", 2, []string{"-bogus", "herald sign -help"}, []string{"sign", "--bogus"}, nil},
		{"unknown scheme", 2, []string{`unknown scheme "nope"`}, []string{"sign", "--scheme", "nope", "--secret", secret, "body.json"}, nil},
		{"unknown scheme verify", 2, []string{`unknown scheme "nope"`}, []string{"verify", "--scheme", "nope", "--secret", secret, "--headers", "h.txt", "body.json"}, nil},
		{"missing secret sign", 2, []string{"missing --secret"}, []string{"sign", "body.json"}, nil},
		{"id a sender refuses", 2, []string{"--id", "id holds a space"}, []string{"sign", "--secret", secret, "--id", "msg 1", "body.json"}, nil},
		{"missing secret verify", 2, []string{"missing --secret"}, []string{"verify", "--headers", "h.txt", "body.json"}, nil},
		{"missing secret send", 2, []string{"missing --secret"}, []string{"send", "https://example.invalid/", "body.json"}, nil},
		{"missing secret listen", 2, []string{"missing --secret"}, []string{"listen"}, nil},
		{"missing key v1a", 2, []string{"missing --key"}, []string{"sign", "--scheme", "standard-v1a", "body.json"}, nil},
		{"missing key jwt", 2, []string{"missing --secret (HS*) or --key"}, []string{"sign", "--scheme", "jwt", "body.json"}, nil},
		{"missing env", 2, []string{"HERALD_TEST_UNSET is not set"}, []string{"sign", "--secret", "env:HERALD_TEST_UNSET", "body.json"}, nil},
		{"missing secret file", 2, []string{"--secret #1: cannot read the file it names: no such file"}, []string{"sign", "--secret", "@nofile.txt", "body.json"}, nil},
		{"short secret", 2, []string{"invalid key"}, []string{"sign", "--secret", short, "body.json"}, nil},
		{"short secret env", 2, []string{"--secret #1"}, []string{"sign", "--secret", "env:WH", "body.json"}, []string{"WH=" + short}},
		{"secret given as key", 2, []string{"neither a whsk_ key nor a readable file"}, []string{"sign", "--scheme", "standard-v1a", "--key", secret, "body.json"}, nil},
		{"secret given as pubkey", 2, []string{"neither"}, []string{"verify", "--scheme", "jwt", "--pubkey", secret, "--headers", "h.txt", "body.json"}, nil},
		{"wrong flag for scheme", 2, []string{"--header-name does not apply to scheme standard"}, []string{"sign", "--secret", secret, "--header-name", "X-Sig", "body.json"}, nil},
		{"alg mismatch", 2, []string{"--alg RS256 needs"}, []string{"sign", "--scheme", "jwt", "--alg", "RS256", "--secret", secret, "body.json"}, nil},
		{"missing headers flag", 2, []string{"missing --headers"}, []string{"verify", "--secret", secret, "body.json"}, nil},
		{"headers without colon", 2, []string{"--headers file nocolon.txt: line 2", "Name: value"}, []string{"verify", "--secret", secret, "--headers", "nocolon.txt", "body.json"}, nil},
		{"headers bad name", 2, []string{"--headers file badname.txt: line 2", "invalid header name"}, []string{"verify", "--secret", secret, "--headers", "badname.txt", "body.json"}, nil},
		{"headers empty", 2, []string{"--headers file empty.txt: no headers found"}, []string{"verify", "--secret", secret, "--headers", "empty.txt", "body.json"}, nil},
		{"headers missing file", 2, []string{"cannot read --headers file no-such.txt"}, []string{"verify", "--secret", secret, "--headers", "no-such.txt", "body.json"}, nil},
		{"body missing file", 2, []string{"cannot read body file", "missing.json", "no such file"}, []string{"sign", "--secret", secret, "missing.json"}, nil},
		{"body is a directory", 2, []string{"cannot read body file", "is a directory"}, []string{"verify", "--secret", secret, "--headers", "h.txt", "adir"}, nil},
		{"secret given as body", 2, []string{"looks like a key"}, []string{"sign", "--secret", secret, secret}, nil},
		{"body too large", 2, []string{"larger than 10 MiB"}, []string{"sign", "--secret", secret, "huge.json"}, nil},
		{"two stdins", 2, []string{"both come from standard input"}, []string{"verify", "--secret", secret, "--headers", "-", "-"}, nil},
		{"too many args", 2, []string{"too many arguments"}, []string{"sign", "--secret", secret, "body.json", "body.json"}, nil},
		{"send without URL", 2, []string{"missing URL"}, []string{"send", "--secret", secret}, nil},
		{"send bad URL", 2, []string{"invalid destination URL"}, []string{"send", "--secret", secret, "ftp://example.invalid/", "body.json"}, nil},
		{"send bad header", 2, []string{"--header #1"}, []string{"send", "--secret", secret, "--header", "Authorization Bearer " + secret, "https://example.invalid/"}, nil},
		{"send bad cacert", 2, []string{"holds no PEM certificate"}, []string{"send", "--secret", secret, "--cacert", "body.json", "https://example.invalid/"}, nil},
		{"listen cert-out alone", 2, []string{"--cert-out needs --self-signed"}, []string{"listen", "--secret", secret, "--cert-out", "x.pem"}, nil},
		{"listen tls half", 2, []string{"go together"}, []string{"listen", "--secret", secret, "--tls-cert", "x.pem"}, nil},
		{"listen bad address", 1, []string{"herald listen"}, []string{"listen", "--secret", secret, "--addr", "256.0.0.1:1"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := expect(t, runOpts{dir: dir, env: c.env}, c.code, nil, c.args...)
			out := r.stderr
			if c.name == "no args" {
				out = r.stderr + r.stdout
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q does not contain %q", out, w)
				}
			}
			if strings.Contains(r.all(), "panic") || strings.Contains(r.all(), "goroutine ") {
				t.Errorf("panicked:\n%s", r.all())
			}
			noLeak(t, r.all(), secret, strings.TrimPrefix(secret, "whsec_"), short, strings.TrimPrefix(short, "whsec_"))
		})
	}
}

func TestHelp(t *testing.T) {
	o := runOpts{dir: t.TempDir()}
	r := must(t, o, "help")
	for _, c := range []string{"keygen", "sign", "send", "verify", "listen", "version"} {
		if !strings.Contains(r.stdout, "\t"+c+" ") {
			t.Errorf("herald help does not list %s:\n%s", c, r.stdout)
		}
		for _, args := range [][]string{{c, "--help"}, {c, "-h"}, {"help", c}} {
			h := must(t, o, args...)
			if !strings.Contains(h.stdout, "Usage: herald "+c) || !strings.Contains(h.stdout, "Example:") {
				t.Errorf("herald %s: help lacks usage or example:\n%s", strings.Join(args, " "), h.stdout)
			}
		}
	}
	v := must(t, o, "version")
	if !strings.HasPrefix(v.stdout, "herald version 0.") {
		t.Errorf("version printed %q", v.stdout)
	}
	expect(t, o, 2, []string{"unknown command"}, "help", "nope")
}

func TestVerifyJWKSURL(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}
	must(t, o, "keygen", "--scheme", "jwt", "--alg", "EdDSA", "--out", "ed")
	pubPEM, err := os.ReadFile(filepath.Join(dir, "ed.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := auth.ParsePublicKey(pubPEM, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(auth.JWKSHandler(pub))
	defer srv.Close()
	ca := writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	writeFile(t, dir, "h.txt", must(t, o, "sign", "--scheme", "jwt", "--key", "ed.key", "--id", "jwks-1", "body.json").stdout)

	// The binary trusts the test server through SSL_CERT_FILE.
	vo := runOpts{dir: dir, env: []string{"SSL_CERT_FILE=" + ca}}
	r := must(t, vo, "verify", "--scheme", "jwt", "--pubkey", srv.URL+"/jwks.json", "--headers", "h.txt", "body.json")
	if !strings.HasPrefix(r.stdout, "valid scheme=jwt id=jwks-1 key="+pub.Thumbprint()) {
		t.Errorf("verify printed %q", r.stdout)
	}
	writeFile(t, dir, "tampered.json", body+" ")
	expect(t, vo, 1, []string{"invalid"}, "verify", "--scheme", "jwt", "--pubkey", srv.URL+"/jwks.json", "--headers", "h.txt", "tampered.json")
}

// TestJWTTTLBothSides: a token signed with --ttl over the 10-minute bound
// that verifiers accept by default is refused by verify, unless verify is
// given the same --ttl, so that herald verifies what it was told to sign.
func TestJWTTTLBothSides(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "body.json", body)
	o := runOpts{dir: dir}
	secret := "a-jwt-secret-of-thirty-two-bytes!"
	h := must(t, o, "sign", "--scheme", "jwt", "--secret", secret, "--ttl", "30m", "--id", "long", "body.json").stdout
	writeFile(t, dir, "h.txt", h)
	expect(t, o, 1, []string{"invalid", "lifetime"}, "verify", "--scheme", "jwt", "--secret", secret, "--headers", "h.txt", "body.json")
	must(t, o, "verify", "--scheme", "jwt", "--secret", secret, "--ttl", "30m", "--headers", "h.txt", "body.json")
	// A shorter --ttl when verifying is stricter than the default.
	h = must(t, o, "sign", "--scheme", "jwt", "--secret", secret, "--ttl", "5m", "--id", "short", "body.json").stdout
	writeFile(t, dir, "h.txt", h)
	expect(t, o, 1, []string{"invalid", "lifetime"}, "verify", "--scheme", "jwt", "--secret", secret, "--ttl", "1m", "--headers", "h.txt", "body.json")
}
