package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/devcert"
	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/internal/wire"
)

const listenDoc = `Listen runs a local webhook receiver that verifies every request with
auth.Middleware (bounded body, signature, timestamp window, replay cache on the
delivery id) and answers 204 No Content when it is valid, 401 with the reason
when it is not (413 for a body over --max-body). A delivery id it answered
204 already (the sender's retry after a lost answer, or a replay) gets 200
from the middleware, and one whose first request is still being answered 503.
It prints one JSON line per request to standard output:

  {"time":"…","id":"…","scheme":"standard","valid":true,"error":null,"topic":"","bytes":2,"status":204}

with "key" (the matching key id) when valid, "duplicate":true for such a
repeated id, and "body" with --print-body. The topic is a jwt's signed
topic claim; the other schemes carry none.

It serves HTTPS with --tls-cert and --tls-key, or with --self-signed, a new
certificate for 127.0.0.1, ::1 and localhost whose PEM --cert-out writes (for
herald send --cacert); plain HTTP otherwise. Once ready it prints
"listening on https://ADDR" (or http://) to standard error; --addr with port 0
picks a free port, which that line shows. Interrupt or SIGTERM stops it
gracefully, with exit status 0.

` + schemeHelp

const listenExample = `herald listen --secret @secret.txt --self-signed --cert-out cert.pem --addr 127.0.0.1:8443
herald listen --scheme jwt --pubkey signing.pub --audience https://127.0.0.1:8443/ --self-signed --cert-out cert.pem
herald listen --scheme hub --secret env:HUB_SECRET --tls-cert cert.pem --tls-key key.pem --print-body`

// listenLine is the JSON line that listen prints per request.
type listenLine struct {
	Time   string  `json:"time"`
	ID     string  `json:"id"`
	Scheme string  `json:"scheme"`
	Valid  bool    `json:"valid"`
	Error  *string `json:"error"`
	Topic  string  `json:"topic"`
	Bytes  int64   `json:"bytes"`
	Status int     `json:"status"`
	Key    string  `json:"key,omitempty"`
	// Duplicate: the middleware answered 200 for an id handled already.
	Duplicate bool    `json:"duplicate,omitempty"`
	Body      *string `json:"body,omitempty"`
}

// runListen implements "herald listen".
func runListen(args []string, stdout, stderr io.Writer) int {
	fs, sf := newSchemeFlagSet("listen", "herald listen [scheme flags] [--addr 127.0.0.1:8080] [--tls-cert FILE --tls-key FILE | --self-signed [--cert-out FILE]] [--allow-missing-exp] [--print-body] [--max-body N]", listenDoc, listenExample)
	addr := fs.String("addr", "127.0.0.1:8080", "`address` to listen on; port 0 picks a free one")
	var serveTLS serveTLSFlags
	serveTLS.register(fs)
	selfSigned := fs.Bool("self-signed", false, "serve HTTPS with a new self-signed certificate for 127.0.0.1, ::1 and localhost")
	certOut := fs.String("cert-out", "", "with --self-signed, write the certificate (PEM) to this `file`")
	fs.BoolVar(&sf.allowMissingExp, "allow-missing-exp", false, "jwt: accept tokens without an exp claim")
	printBody := fs.Bool("print-body", false, "add each request's body to its JSON line")
	maxBody := fs.Int64("max-body", 1<<20, "largest body accepted, in bytes")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return usageErr(stderr, "listen", "unexpected argument %s", showArg(fs.Args()[0]))
	case serveTLS.check() != nil:
		return usageErr(stderr, "listen", "%v", serveTLS.check())
	case *selfSigned && serveTLS.cert != "":
		return usageErr(stderr, "listen", "give --self-signed or --tls-cert/--tls-key, not both")
	case *certOut != "" && !*selfSigned:
		return usageErr(stderr, "listen", "--cert-out needs --self-signed")
	case *maxBody <= 0:
		return usageErr(stderr, "listen", "--max-body must be positive")
	}
	v, err := sf.verifier()
	if err != nil {
		return usageErr(stderr, "listen", "%v", err)
	}

	var tlsConfig *tls.Config
	switch {
	case *selfSigned:
		if tlsConfig, err = selfSignedTLS(*certOut); err != nil {
			return failure(stderr, "listen", err)
		}
	default:
		if tlsConfig, err = serveTLS.config(); err != nil {
			return usageErr(stderr, "listen", "%v", err)
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return failure(stderr, "listen", err)
	}
	proto := "http"
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
		proto = "https"
	}

	rl := &receiver{scheme: sf.scheme, out: stdout, printBody: *printBody, maxBody: *maxBody}
	opts := []auth.MiddlewareOption{
		auth.WithMaxBodyBytes(*maxBody),
		auth.WithErrorHandler(rl.refuse),
	}
	// The window must cover twice the tolerance; auth's default, 10
	// minutes, covers the default one.
	if w := 2 * sf.tolerance; w > 10*time.Minute {
		opts = append(opts, auth.WithReplayWindow(w))
	}
	// The server's own complaints may quote a client: escape them.
	srv := httpserver.New(rl.wrap(auth.Middleware(recordingVerifier{v}, opts...)(http.HandlerFunc(rl.accept))),
		log.New(escapingWriter{stderr}, "", log.LstdFlags))

	if *certOut != "" {
		fmt.Fprintf(stderr, "certificate written to %s\n", *certOut)
	}
	fmt.Fprintf(stderr, "listening on %s://%s\n", proto, ln.Addr())
	return serveUntilSignal(srv, ln, stderr)
}

// selfSignedTLS makes listen's --self-signed certificate, writes it to
// certOut unless that is empty, and returns the server configuration.
func selfSignedTLS(certOut string) (*tls.Config, error) {
	c, err := devcert.New("herald listen", 7*24*time.Hour)
	if err != nil {
		return nil, err
	}
	if certOut != "" {
		if err := os.WriteFile(certOut, c.PEM, 0o644); err != nil {
			return nil, fmt.Errorf("cannot write --cert-out: %w", err)
		}
	}
	return &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12}, nil
}

// serveUntilSignal serves srv on ln until SIGINT or SIGTERM, then shuts it
// down, giving requests in flight 5 seconds before it closes their
// connections, and returns the exit status: 0 after a signal.
func serveUntilSignal(srv *http.Server, ln net.Listener, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return failure(stderr, "listen", err)
	case <-ctx.Done():
	}
	stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// A client that holds a request or a connection open past the
		// grace cannot turn a stop that was asked for into a failure.
		srv.Close()
		fmt.Fprintln(stderr, "herald listen: requests still open after 5s were cut short")
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return failure(stderr, "listen", err)
	}
	fmt.Fprintln(stderr, "stopped")
	return exitOK
}

// receiver holds listen's per-request handlers and its output.
type receiver struct {
	scheme    string
	printBody bool
	maxBody   int64

	mu  sync.Mutex // serialises writes to out
	out io.Writer
}

// requestState collects what the handlers learn about one request.
type requestState struct {
	verified  auth.Verified
	valid     bool
	duplicate bool
	status    int
	err       error
}

// stateKey is the context key of the *requestState.
type stateKey struct{}

// countingReader counts the bytes read through it, keeping up to keep of
// them.
type countingReader struct {
	r    io.ReadCloser
	n    int64
	keep int64
	buf  []byte
}

// Read reads from the underlying body, counting and keeping what it reads.
func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if room := c.keep - int64(len(c.buf)); room > 0 {
		c.buf = append(c.buf, p[:min(int64(n), room)]...)
	}
	return n, err
}

// Close closes the underlying body.
func (c *countingReader) Close() error { return c.r.Close() }

// wrap runs next (the verifying middleware) and prints the request's line.
func (rl *receiver) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &requestState{}
		cr := &countingReader{r: r.Body}
		if rl.printBody {
			cr.keep = rl.maxBody
		}
		r.Body = cr
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
		next.ServeHTTP(w, r)
		if !st.valid && st.err == nil {
			// Neither accept nor refuse ran: the middleware answered a
			// duplicate itself, with 200.
			st.valid, st.duplicate, st.status = true, true, http.StatusOK
		}

		line := listenLine{
			Time:      time.Now().UTC().Format(time.RFC3339Nano),
			ID:        r.Header.Get("Webhook-Id"),
			Scheme:    rl.scheme,
			Valid:     st.valid,
			Bytes:     cr.n,
			Status:    st.status,
			Duplicate: st.duplicate,
		}
		if st.verified.ID != "" {
			line.ID = st.verified.ID
		}
		if st.valid {
			line.Key = st.verified.KeyID
			if t, ok := st.verified.Claims["topic"].(string); ok {
				line.Topic = t
			}
		}
		if st.err != nil {
			msg := st.err.Error()
			line.Error = &msg
		}
		if rl.printBody {
			body := string(cr.buf)
			line.Body = &body
		}
		b, err := wire.EscapedJSON(line)
		if err != nil {
			return
		}
		rl.mu.Lock()
		defer rl.mu.Unlock()
		fmt.Fprintf(rl.out, "%s\n", b)
	})
}

// recordingVerifier verifies with v and keeps what it verified in the
// request's state, so that the line of a request the middleware answers
// itself (a duplicate, or one whose id is still running) shows what the
// signature gives, and not the unsigned webhook-id header.
type recordingVerifier struct{ v auth.Verifier }

// Verify is VerifyContext without a request.
func (rv recordingVerifier) Verify(h http.Header, body []byte) (auth.Verified, error) {
	return rv.VerifyContext(context.Background(), h, body)
}

// VerifyContext verifies with rv.v, under ctx when it takes one, and
// records the result in ctx's request state.
func (rv recordingVerifier) VerifyContext(ctx context.Context, h http.Header, body []byte) (auth.Verified, error) {
	res, err := verify(ctx, rv.v, h, body)
	if st, ok := ctx.Value(stateKey{}).(*requestState); ok && err == nil {
		st.verified = res
	}
	return res, err
}

// accept answers a verified request with 204 No Content.
func (rl *receiver) accept(w http.ResponseWriter, r *http.Request) {
	if st, ok := r.Context().Value(stateKey{}).(*requestState); ok {
		st.verified, _ = auth.FromContext(r.Context())
		st.valid = true
		st.status = http.StatusNoContent
	}
	w.WriteHeader(http.StatusNoContent)
}

// refuse answers a request that Middleware refused, with the reason as plain
// text. The reasons of package auth never hold a secret or an expected
// signature.
func (rl *receiver) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	if st, ok := r.Context().Value(stateKey{}).(*requestState); ok {
		st.status = status
		st.err = err
	}
	http.Error(w, err.Error(), status)
}
