package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestFleet runs the example against an embedded NATS server: every event
// must arrive as exactly one verified webhook.
func TestFleet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := run(ctx, "", 300); err != nil {
		t.Fatal(err)
	}
}

// TestFleetHidesNATSCredentials runs the example against a NATS_URL that
// carries a user and password, or a token, and names a server that is not
// there: neither what it prints nor its error shows the credential. (It
// printed "nats      using" and the URL whole.)
func TestFleetHidesNATSCredentials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the connection is refused
	for _, url := range []string{"nats://herald:s3cretPassw0rd@" + addr, "nats://s3cretT0ken@" + addr} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout := os.Stdout
		os.Stdout = w
		runErr := run(context.Background(), url, 1)
		os.Stdout = stdout
		w.Close()
		out, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if runErr == nil {
			t.Fatalf("run against %s, where nothing listens, succeeded", addr)
		}
		all := string(out) + fmt.Sprint(runErr)
		if strings.Contains(all, "s3cret") {
			t.Errorf("the credential shows:\n%s", all)
		}
		if !strings.Contains(all, addr) {
			t.Errorf("the output does not name the server %s:\n%s", addr, all)
		}
	}
}
