package main

import (
	"bytes"
	"net"
	"os/exec"
	"strings"
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

// TestRelaySignalDuringStoreConnect: SIGTERM while the relay connects to
// its store (which can take up to 30 s) stops it as a running relay stops,
// with exit status 0 and a line saying so, not killed by the signal.
func TestRelaySignalDuringStoreConnect(t *testing.T) {
	for _, scheme := range []string{"postgres", "nats"} {
		t.Run(scheme, func(t *testing.T) {
			addr, accepted := silentServer(t)
			store := "postgres://relay@" + addr + "/shop?sslmode=disable"
			if scheme == "nats" {
				store = "nats://" + addr
			}
			cmd := exec.Command(heraldBin, "relay", "--listen", "127.0.0.1:0", "--in-insecure",
				"--store", store, "--dest", "https://127.0.0.1:1/", "--allow-private", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() { cmd.Process.Kill() })
			select {
			case <-accepted:
			case err := <-done:
				t.Fatalf("relay exited before connecting: %v\n%s", err, stderr.String())
			case <-time.After(30 * time.Second):
				t.Fatal("relay did not connect to the store")
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("relay did not exit on SIGTERM during start-up")
			}
			if ee, ok := err.(*exec.ExitError); ok {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					t.Fatalf("relay was killed by %v while connecting, want exit 0\n%s", ws.Signal(), stderr.String())
				}
				t.Fatalf("relay exited %d on SIGTERM while connecting, want 0\n%s", ee.ExitCode(), stderr.String())
			} else if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(stderr.String(), "stopped while starting") {
				t.Errorf("stderr does not say the relay stopped while starting:\n%s", stderr.String())
			}
		})
	}
}

// TestOutboxSignalDuringStoreConnect: SIGTERM while herald outbox connects
// to its store stops it with exit status 1 (the action was not done) and
// one line saying so, as the relay stops at start-up: not killed by the
// signal.
func TestOutboxSignalDuringStoreConnect(t *testing.T) {
	for _, scheme := range []string{"postgres", "nats"} {
		t.Run(scheme, func(t *testing.T) {
			addr, accepted := silentServer(t)
			store := "postgres://relay@" + addr + "/shop?sslmode=disable"
			if scheme == "nats" {
				store = "nats://" + addr
			}
			cmd := exec.Command(heraldBin, "outbox", "list", "--store", store)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() { cmd.Process.Kill() })
			select {
			case <-accepted:
			case err := <-done:
				t.Fatalf("outbox exited before connecting: %v\n%s", err, stderr.String())
			case <-time.After(30 * time.Second):
				t.Fatal("outbox did not connect to the store")
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("outbox did not exit on SIGTERM while connecting")
			}
			ee, ok := err.(*exec.ExitError)
			if !ok {
				t.Fatalf("outbox exited with %v on SIGTERM while connecting, want exit 1\n%s", err, stderr.String())
			}
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Fatalf("outbox was killed by %v while connecting, want exit 1\n%s", ws.Signal(), stderr.String())
			}
			if ee.ExitCode() != 1 {
				t.Fatalf("outbox exited %d on SIGTERM while connecting, want 1\n%s", ee.ExitCode(), stderr.String())
			}
			if got := stderr.String(); got != "herald outbox: stopped by a signal before it finished\n" || stdout.Len() != 0 {
				t.Errorf("outbox printed %q and %q, want one line saying it stopped", stdout.String(), got)
			}
		})
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

// TestSecondSignalStopsHungConnect: a store connection that hangs where
// no context reaches it (the PostgreSQL driver opening a ~/.pgpass that is
// a FIFO with no writer) holds the first signal's clean stop; a second
// signal must then stop the command at once, as it would have without
// herald catching the first.
func TestSecondSignalStopsHungConnect(t *testing.T) {
	home := t.TempDir()
	if err := syscall.Mkfifo(home+"/.pgpass", 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"outbox", "list", "--store", "postgres://relay@127.0.0.1:1/shop?sslmode=disable"},
		{"relay", "--store", "postgres://relay@127.0.0.1:1/shop?sslmode=disable", "--listen", "127.0.0.1:0",
			"--in-insecure", "--dest", "https://127.0.0.1:1/", "--allow-private", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	} {
		t.Run(args[0], func(t *testing.T) {
			cmd := exec.Command(heraldBin, args...)
			cmd.Env = append(cmd.Environ(), "HOME="+home, "PGPASSFILE=", "PGSERVICEFILE=")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() { cmd.Process.Kill() })
			select {
			case err := <-done:
				t.Fatalf("%s exited before any signal: %v\n%s", args[0], err, stderr.String())
			case <-time.After(time.Second): // in the driver's open of the FIFO by now
			}
			for i := range 2 {
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				select {
				case err := <-done:
					if i == 0 {
						t.Logf("stopped at the first signal (the open did not hang): %v", err)
					}
					return
				case <-time.After(2 * time.Second):
				}
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s still runs after two SIGTERMs\n%s", args[0], stderr.String())
			}
		})
	}
}
