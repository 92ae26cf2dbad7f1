package main

// herald's commands against a hostile client and a careless operator: a
// review's tests. Each failed on the code it was written against.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestListenStopsWithARequestHeld: SIGTERM while a client holds a request
// open (its body only begun) stops listen with exit status 0, as its help
// says, and "stopped": the client is cut off after the grace; over HTTP
// and HTTPS. (listen exited 1 with "shutdown: context deadline exceeded":
// any client could turn an operator's stop into a failure.)
func TestListenStopsWithARequestHeld(t *testing.T) {
	dir := t.TempDir()
	secret, _ := stdSecret(t, dir)
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			args := []string{"--secret", secret}
			if tlsOn {
				args = append(args, "--self-signed", "--cert-out", "cert.pem")
			}
			lp := startListen(t, dir, args...)
			addr := lp.url[strings.Index(lp.url, "://")+3:]
			var conn net.Conn
			var err error
			if tlsOn {
				pool := x509.NewCertPool()
				pem, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
				pool.AppendCertsFromPEM(pem)
				conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
			} else {
				conn, err = net.Dial("tcp", addr)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			holdRequest(t, lp, conn, addr)
			if code := lp.stop(t); code != 0 {
				t.Errorf("listen exited %d on SIGTERM with a request held open, want 0\n%s", code, lp.stderr)
			}
			if !strings.Contains(lp.stderr.String(), "stopped") {
				t.Errorf("listen did not say it stopped:\n%s", lp.stderr)
			}
		})
	}
}

// holdRequest makes one whole request on conn, so that listen has taken
// the connection, then begins a second whose body never comes.
func holdRequest(t *testing.T, lp *listenProc, conn net.Conn, addr string) {
	t.Helper()
	fmt.Fprintf(conn, "POST /hook HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\n\r\n{}", addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lp.next(t)
	fmt.Fprintf(conn, "POST /hook HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\n{\"a\":", addr)
	time.Sleep(200 * time.Millisecond) // let listen read the head: the request is in flight
}

// TestSignRefusesContentTypeWithLineBreak: sign's --content-type is
// printed as a header line, so a line break in it would forge another
// header in the headers file (and an ESC drive the terminal). sign refuses
// what a Sender refuses to send, with exit status 2. (sign printed
// "X-Evil: 1" as a header of its own.)
func TestSignRefusesContentTypeWithLineBreak(t *testing.T) {
	dir := t.TempDir()
	secret, _ := stdSecret(t, dir)
	writeFile(t, dir, "body.json", body)
	for _, ct := range []string{"application/json\nX-Evil: 1", "application/json\r\nX-Evil: 1", "text/\x1b[31mred", strings.Repeat("a", 300)} {
		r := herald(t, runOpts{dir: dir}, "sign", "--secret", secret, "--content-type", ct, "body.json")
		if r.code != 2 || !strings.Contains(r.stderr, "--content-type") {
			t.Errorf("sign --content-type %q: exit %d, want 2 and an error naming --content-type\nstdout: %s\nstderr: %s", ct, r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, "X-Evil") {
			t.Errorf("sign --content-type %q forged a header:\n%s", ct, r.stdout)
		}
		if c, ok := raw(r.all()); ok {
			t.Errorf("sign --content-type %q printed %U raw:\n%q", ct, c, r.all())
		}
	}
}

// TestSendBlockedAddressEscaped: send's warning about a blocked address
// quotes the URL's host, whose IPv6 zone may hold C1 and bidi characters
// (a URL copied from a customer's webhook registration); they are
// escaped, as in every other message. (The warning printed them raw.)
func TestSendBlockedAddressEscaped(t *testing.T) {
	dir := t.TempDir()
	secret, _ := stdSecret(t, dir)
	r := herald(t, runOpts{dir: dir}, "send", "--secret", secret, "--retries", "0", "https://[fe80::1%25\u009b2J\u202eevil]/")
	if r.code != 1 || !strings.Contains(r.stderr, "address not allowed") {
		t.Fatalf("send to a link-local address: exit %d, want 1 and the guard's warning\n%s", r.code, r.all())
	}
	if c, ok := raw(r.all()); ok {
		t.Errorf("send printed %U raw:\n%q", c, r.all())
	}
}

// TestKeygenLeavesNoPartialKey: keygen --out on a disk that takes no more
// bytes (here RLIMIT_FSIZE, as a full disk or a quota would) fails with
// exit status 1 and leaves no file behind, so that the next run, on a disk
// with room, writes the key. (It left an empty PREFIX.key or
// PREFIX.secret, which the next run refused to overwrite, and a key file
// that holds no key.)
func TestKeygenLeavesNoPartialKey(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ prefix, files string }{
		{"es", "--scheme jwt --alg ES256"},
		{"v1a", "--scheme standard-v1a"},
		{"std", "--scheme standard"},
	} {
		args := append(strings.Fields(c.files), "--out", c.prefix)
		cmd := exec.Command("/bin/sh", append([]string{"-c", `ulimit -f 0; exec "$0" keygen "$@"`, heraldBin}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("keygen %s on a full disk: %v, want exit status 1\n%s", c.files, err, out)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, c.prefix+".*")); len(left) > 0 {
			t.Errorf("keygen %s on a full disk left %v\n%s", c.files, left, out)
		}
		must(t, runOpts{dir: dir}, append([]string{"keygen"}, args...)...)
	}
}

// TestNATSFilesBounded: the NATS client reads a --nats-* file (or the
// --store query's creds=, cacert=, cert=, key=) whole, and again at each
// reconnect: one that is not a regular file of at most 1 MiB is refused as
// a usage error before the client sees it. (/dev/zero crashed herald out
// of memory, here within a 4 GB address-space limit; a FIFO with no
// writer hung it.)
func TestNATSFilesBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "key.pem", "not a key")
	for _, c := range []struct{ flag, args string }{
		{"--nats-cacert", "--nats-cacert /dev/zero"},
		{"--nats-cert", "--nats-cert /dev/zero --nats-key key.pem"},
		{"--nats-cacert", "--nats-cacert " + fifo},
		{"--nats-cacert", "--nats-cacert " + dir},
		{"--nats-creds", "--store nats://127.0.0.1:1?creds=/dev/zero"},
	} {
		args := append([]string{"outbox", "stats", "--store", "nats://127.0.0.1:1"}, strings.Fields(c.args)...)
		if code, stderr := runLimited(t, dir, nil, args...); code != 2 || !strings.Contains(stderr, c.flag) || strings.Contains(stderr, "fatal error") {
			t.Errorf("outbox stats %s: exit %d, want 2 and an error naming %s\n%.300s", c.args, code, c.flag, stderr)
		}
	}
}

// runLimited runs herald with args in dir, with env added to its
// environment, within an address space of 4 GB and 20 seconds, and
// returns its exit status (-1 when killed) and standard error.
func runLimited(t *testing.T, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", `ulimit -v 4000000; exec "$0" "$@"`, heraldBin}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// TestPostgresFilesBounded: the PostgreSQL driver reads the files that a
// postgres:// --store's query (sslrootcert, sslcert, sslkey, passfile,
// servicefile) or the environment (PGSSLROOTCERT, …) names while it parses
// the URL, the certificates and key whole: one that is not a regular file
// of at most 1 MiB is refused first, naming the key, not the value. (/dev/zero
// crashed herald out of memory within a 4 GB address-space limit; a FIFO
// with no writer hung it.)
func TestPostgresFilesBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cert := writeFile(t, dir, "cert.pem", "not a certificate")
	svc := writeFile(t, dir, "pg_service.conf", "[s]\nsslmode=verify-full\nsslrootcert="+fifo+"\n")
	const base = "postgres://relay@127.0.0.1:1/outbox"
	for _, c := range []struct {
		want, store string
		env         []string
	}{
		{"sslrootcert", base + "?sslmode=verify-full&sslrootcert=/dev/zero", nil},
		{"PGSSLKEY", base, []string{"PGSSLKEY=/dev/zero", "PGSSLCERT=" + cert}},
		{"passfile", base + "?passfile=" + fifo, nil},
		{"sslrootcert", base + "?sslmode=require&sslrootcert=" + dir, nil},
		{"sslrootcert in the service file", base + "?service=s&servicefile=" + svc, nil},
		{"sslrootcert in the service file", base, []string{"PGSERVICE=s", "PGSERVICEFILE=" + svc}},
	} {
		for _, cmd := range [][]string{
			{"outbox", "stats", "--store", c.store},
			{"relay", "--store", c.store, "--in-insecure", "--dest", "https://example.com/hook", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		} {
			code, stderr := runLimited(t, dir, c.env, cmd...)
			if code <= 0 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "fatal error") {
				t.Errorf("%s --store %s %v: exit %d, want an error naming %s\n%.300s", cmd[0], c.store, c.env, code, c.want, stderr)
			}
		}
	}
}

// TestRelayOTLPErrorsEscaped: an OTLP collector that refuses the relay's
// spans with a body of terminal escapes gets its body logged escaped, as a
// log line of the relay's own. (The OpenTelemetry SDK's default error
// handler printed it raw to standard error, beside the relay's log.)
func TestRelayOTLPErrorsEscaped(t *testing.T) {
	var hits atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
		http.Error(w, "\x1b[31mEVIL\x1b]0;pwned\x07\u009b2J", http.StatusBadRequest)
	}))
	defer collector.Close()
	dir := t.TempDir()
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, nil, "--store", "relay.db", "--dest", rcv.URL(), "--secret", secret, "--cacert", "ca.pem",
		"--allow-private", "--otlp-endpoint", collector.URL+"/v1/traces")
	p.mustPost(t, event("otlp-1", "job:ready"), nil)
	waitOK(t, rcv, 1, p)
	eventually(t, func() string { return "the collector's refusal was not logged\n" + p.stderr() },
		func() bool { return hits.Load() > 0 && strings.Contains(p.stderr(), "EVIL") })
	if code := p.stop(t); code != 0 {
		t.Fatalf("relay exit %d\n%s", code, p.stderr())
	}
	if c, ok := raw(p.stderr()); ok {
		t.Errorf("relay printed %U raw:\n%q", c, p.stderr())
	}
	for _, line := range strings.Split(strings.TrimSpace(p.stderr()), "\n") {
		if strings.Contains(line, "EVIL") && !strings.HasPrefix(line, "time=") {
			t.Errorf("the collector's refusal is not a log line of the relay's: %q", line)
		}
	}
}

// TestOTLPFilesBounded: with --otlp-endpoint, the OTLP exporter reads the
// files that OTEL_EXPORTER_OTLP_CERTIFICATE and its kin name, whole: one
// that is not a regular file of at most 1 MiB is refused first, naming the
// variable. (/dev/zero crashed the relay out of memory within a 4 GB
// address-space limit.)
func TestOTLPFilesBounded(t *testing.T) {
	dir := t.TempDir()
	for _, env := range []string{"OTEL_EXPORTER_OTLP_CERTIFICATE=/dev/zero", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY=" + dir} {
		code, stderr := runLimited(t, dir, []string{env}, "relay", "--store", "relay.db", "--listen", "127.0.0.1:0", "--in-insecure",
			"--dest", "https://example.com/hook", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--otlp-endpoint", "http://127.0.0.1:1/v1/traces")
		name, _, _ := strings.Cut(env, "=")
		if code != 2 || !strings.Contains(stderr, name) || strings.Contains(stderr, "fatal error") {
			t.Errorf("relay with %s: exit %d, want 2 and an error naming %s\n%.300s", env, code, name, stderr)
		}
	}
}

// TestPostgresSchemeCase: a --store whose scheme is not in lower case
// ("Postgres://") is a PostgreSQL URL to herald, and was handed as such to
// the driver, which reads only "postgres://" and "postgresql://" as URLs
// and anything else as libpq's keyword/value form: the query's
// "a=1 host=… sslrootcert=/dev/zero" then named a host and a file that
// no check saw (the FIFO hung herald, /dev/zero crashed it out of memory).
// The driver now reads it as the URL it is: one with spaces in its query,
// which it refuses (a usage error, exit 2); without them, it connects to
// the URL's host.
func TestPostgresSchemeCase(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, store := range []string{
		"Postgres://relay@127.0.0.1:1/outbox?a=1 host=127.0.0.1 port=2 sslmode=verify-full sslrootcert=" + fifo,
		"POSTGRESQL://relay@127.0.0.1:1/outbox?a=1 host=127.0.0.1 port=2 sslmode=verify-full sslrootcert=/dev/zero",
	} {
		code, stderr := runLimited(t, dir, nil, "outbox", "stats", "--store", store)
		if code != 2 || !strings.Contains(stderr, "URL is not valid") || strings.Contains(stderr, "fatal error") {
			t.Errorf("outbox stats --store %s: exit %d, want 2: the URL is not valid\n%.300s", store, code, stderr)
		}
	}
	code, stderr := runLimited(t, dir, nil, "outbox", "stats", "--store", "Postgres://relay@127.0.0.1:1/outbox?sslmode=disable")
	if code != 1 || !strings.Contains(stderr, "127.0.0.1:1") {
		t.Errorf("outbox stats --store Postgres://relay@127.0.0.1:1/…: exit %d, want 1 and a failed connection to 127.0.0.1:1\n%.300s", code, stderr)
	}
}
