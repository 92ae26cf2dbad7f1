package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// silentServer listens on loopback, accepts connections and never answers:
// a database or NATS server that hangs. accepted receives each connection.
func silentServer(t *testing.T) (addr string, accepted <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-ch:
				c.Close()
			default:
				return
			}
		}
	})
	return ln.Addr().String(), ch
}

// startCmd starts cmd with its output to stdout and stderr, and returns the
// channel of its end; the test's end kills it if it still runs.
func startCmd(t *testing.T, cmd *exec.Cmd, stdout, stderr *bytes.Buffer) <-chan error {
	t.Helper()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return done
}

// TestSignalDuringStoreConnect: SIGTERM while a command connects to its
// store (which can take up to 30 s) stops it cleanly, not killed by the
// signal: the relay as a running relay stops (exit 0, a line saying so),
// herald outbox with exit status 1 (its action was not done) and one line.
func TestSignalDuringStoreConnect(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		says func(stdout, stderr string) bool
	}{
		{"relay", []string{"relay", "--listen", "127.0.0.1:0", "--in-insecure", "--dest", "https://127.0.0.1:1/",
			"--allow-private", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, 0,
			func(_, stderr string) bool { return strings.Contains(stderr, "stopped while starting") }},
		{"outbox", []string{"outbox", "list"}, 1, func(stdout, stderr string) bool {
			return stdout == "" && stderr == "herald outbox: stopped by a signal before it finished\n"
		}},
	} {
		for _, scheme := range []string{"postgres", "nats"} {
			t.Run(tc.name+"/"+scheme, func(t *testing.T) {
				addr, accepted := silentServer(t)
				store := "postgres://relay@" + addr + "/shop?sslmode=disable"
				if scheme == "nats" {
					store = "nats://" + addr
				}
				cmd := exec.Command(heraldBin, append(tc.args, "--store", store)...)
				var stdout, stderr bytes.Buffer
				done := startCmd(t, cmd, &stdout, &stderr)
				select {
				case <-accepted:
				case err := <-done:
					t.Fatalf("exited before connecting: %v\n%s", err, stderr.String())
				case <-time.After(30 * time.Second):
					t.Fatal("did not connect to the store")
				}
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				var err error
				select {
				case err = <-done:
				case <-time.After(60 * time.Second):
					t.Fatal("did not exit on SIGTERM while connecting")
				}
				code := 0
				if ee, ok := err.(*exec.ExitError); ok {
					if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
						t.Fatalf("killed by %v while connecting, want exit %d\n%s", ws.Signal(), tc.code, stderr.String())
					}
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				if code != tc.code {
					t.Fatalf("exit %d on SIGTERM while connecting, want %d\n%s", code, tc.code, stderr.String())
				}
				if !tc.says(stdout.String(), stderr.String()) {
					t.Errorf("printed %q and %q, not that it stopped while connecting", stdout.String(), stderr.String())
				}
			})
		}
	}
}

// TestRelayOTLPCollectorSilent: setting up the OTLP exporter does not
// contact --otlp-endpoint (the exporter connects only to export), so a
// collector that never answers cannot hold a relay's start-up, nor a
// SIGTERM during it: the relay is listening before any connection to the
// collector, and a SIGTERM once spans wait for it stops the relay with
// exit status 0 (the last export is bounded).
func TestRelayOTLPCollectorSilent(t *testing.T) {
	addr, accepted := silentServer(t)
	dir := t.TempDir()
	secret, rcv := relayReceiver(t, dir)
	p := startRelay(t, dir, nil, "--store", "relay.db", "--dest", rcv.URL(), "--secret", secret, "--cacert", "ca.pem",
		"--allow-private", "--otlp-endpoint", "http://"+addr+"/v1/traces")
	select {
	case <-accepted:
		t.Fatal("the relay connected to the collector while starting")
	default:
	}
	p.mustPost(t, event("otlp-silent-1", "job:ready"), nil)
	waitOK(t, rcv, 1, p)
	if code := p.stop(t); code != 0 {
		t.Fatalf("relay exit %d on SIGTERM with a silent collector, want 0\n%s", code, p.stderr())
	}
	if !strings.Contains(p.stderr(), "relay stopped") {
		t.Errorf("the relay did not say it stopped:\n%s", p.stderr())
	}
}

// TestSecondSignalStopsAtOnce: the first SIGTERM stops a relay gracefully,
// which may take --drain-timeout while a receiver holds a delivery; a
// second one kills it at once, as if herald had never caught the first,
// and the delivery in flight is kept. (signalContext gives the signals
// back their default action at the first one, so that this holds while
// the relay starts too, and for herald outbox: no test can make a store
// connection hang where no context reaches it any more, now that the
// PostgreSQL driver's files are checked first.)
func TestSecondSignalStopsAtOnce(t *testing.T) {
	dir := t.TempDir()
	var hits atomic.Int32
	release := make(chan struct{})
	rcv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer rcv.Close()
	defer close(release)
	writeFile(t, dir, "ca.pem", certPEM(rcv))
	secret, _ := stdSecret(t, dir)
	p := startRelay(t, dir, []string{"WH=" + secret}, "--store", "relay.db", "--dest", rcv.URL, "--secret", "env:WH",
		"--cacert", "ca.pem", "--allow-private", "--timeout", "10m", "--lease-ttl", "30m", "--drain-timeout", "10m")
	p.mustPost(t, event("held-1", "job:ready"), nil)
	eventually(t, func() string { return "no request reached the receiver\n" + p.stderr() },
		func() bool { return hits.Load() > 0 })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("relay exited at the first SIGTERM (%v) with a delivery held and --drain-timeout 10m\n%s", err, p.stderr())
	case <-time.After(time.Second):
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(10 * time.Second):
		t.Fatalf("relay still runs after a second SIGTERM\n%s", p.stderr())
	}
	if pending, dead := outboxStats(t, dir, "relay.db"); pending != 1 || dead != 0 {
		t.Errorf("%d pending, %d dead after the second SIGTERM; want the delivery kept", pending, dead)
	}
}
