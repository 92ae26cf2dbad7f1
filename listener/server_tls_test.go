package listener_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
)

// A TLSConfig with no certificate is refused by name, and the
// NetListener is closed as Serve promises; it used to reach
// http.Server.ServeTLS, which read a certificate file named "" ("open :
// no such file or directory") and left the listener open.
func TestHTTPServerTLSWithoutCertificate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &listener.HTTPServer{NetListener: ln, TLSConfig: &tls.Config{}}
	err = s.Serve(context.Background(), listener.New())
	if err == nil || !strings.Contains(err.Error(), "TLSConfig has no certificate") {
		t.Errorf("Serve: %v, want an error saying TLSConfig has no certificate", err)
	}
	// An open listener would wait for this deadline; a closed one fails at once.
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(-time.Second))
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Serve failed: %v, want net.ErrClosed", err)
	}
}
