package bodypool

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestGetPut: Get lends buffers of a power-of-two capacity from 512 bytes
// to 64 KiB, and one of its own length beyond; Put takes back only those
// of a capacity Get makes, and counts them.
func TestGetPut(t *testing.T) {
	for _, c := range []struct{ n, cap int }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {1024, 1024}, {1025, 2048}, {64 << 10, 64 << 10}, {64<<10 + 1, 64<<10 + 1},
	} {
		b := Get(c.n)
		if len(b) != c.n || cap(b) != c.cap {
			t.Errorf("Get(%d): len %d cap %d, want len %d cap %d", c.n, len(b), cap(b), c.n, c.cap)
		}
	}
	for _, c := range []struct {
		b    []byte
		kept bool
	}{
		{make([]byte, 10, 1024), true},
		{make([]byte, 10, 1000), false},
		{make([]byte, 10, 256), false},
		{make([]byte, 10, 128<<10), false},
		{nil, false},
	} {
		before := Given()
		Put(c.b)
		if kept := Given() > before; kept != c.kept {
			t.Errorf("Put(cap %d): kept %v, want %v", cap(c.b), kept, c.kept)
		}
	}
}

// TestWatchWaitsForTheWrite: a receiver answers before it reads a request's
// body. net/http hands the answer over while it is still writing the body,
// so the Watch must not say quiet until that write is done: the caller
// would give the body's buffer back while net/http still reads it. (The
// answer's own body stays open here: once it is read, net/http gives the
// write 50 ms and then closes the connection under it.)
func TestWatchWaitsForTheWrite(t *testing.T) {
	release := make(chan struct{})
	read := make(chan []byte, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "early ")
		w.(http.Flusher).Flush()
		<-release
		b, _ := io.ReadAll(r.Body)
		read <- b
		io.WriteString(w, "answer")
	}))
	srv.Listener = smallBuffers{srv.Listener}
	srv.StartTLS()
	defer srv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release) // a failed check must not leave the handler waiting
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := new(net.Dialer).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetWriteBuffer(64 << 10)
		}
		return c, err
	}}
	defer tr.CloseIdleConnections()

	w := NewWatch()
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: far more than the sockets hold
	req, err := http.NewRequestWithContext(w.Context(context.Background()), http.MethodPost, srv.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if w.Quiet() {
		t.Fatalf("quiet with the body still being written: %d got, %d written", w.got.Load(), w.wrote.Load())
	}
	close(release)
	if got := <-read; !bytes.Equal(got, body) {
		t.Fatalf("the receiver read %d bytes, want the %d sent", len(got), len(body))
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "early answer" {
		t.Fatalf("answer %q, %v", b, err)
	}
	for deadline := time.Now().Add(10 * time.Second); !w.Quiet(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never quiet: %d connections got, %d writes done", w.got.Load(), w.wrote.Load())
		}
	}
	// A second request on the same Watch, written in full before its answer.
	req, _ = http.NewRequestWithContext(w.Context(context.Background()), http.MethodGet, srv.URL, nil)
	go func() { <-read }()
	if resp, err = tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !w.Quiet() {
		t.Fatalf("not quiet after a request written in full: %d got, %d written", w.got.Load(), w.wrote.Load())
	}
}

// smallBuffers is a listener whose connections have a small receive
// buffer, so that a large body waits for the handler to read it.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(64 << 10)
	}
	return c, err
}
