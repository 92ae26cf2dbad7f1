package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/heraldhq/herald/internal/httpserver"
)

// HTTPServer is a [Source] that owns an http.Server serving an
// [HTTPHandler]. On shutdown it stops accepting connections and waits, with
// http.Server.Shutdown, for the requests in flight (their handlers) to
// finish, as long as the listener's [WithDrainTimeout] (30 seconds when
// served outside [Listener.Run]). Request headers must arrive within 10
// seconds and the whole request within a minute, and the answer must be
// written within two minutes of the headers: a client that trickles its
// body or never reads the answer cannot hold a connection for longer.
type HTTPServer struct {
	// Addr is the TCP address to listen on, such as ":8080". Ignored when
	// NetListener is set.
	Addr string
	// NetListener, if set, is served instead of listening on Addr (tests
	// pass one on 127.0.0.1:0; a program that listens before Run learns of
	// a taken port at once, and is ready once it holds the listener).
	// Serve closes it.
	NetListener net.Listener
	// Path, if set, is the only URL path served; others get 404.
	Path string
	// Handler configures verification and the size limit (the listener's
	// [WithLogger] does the logging); its
	// Dispatcher is replaced by the one Serve is given.
	Handler HTTPHandler
	// TLSConfig, if set, makes the server speak HTTPS with its certificates
	// (Certificates, GetCertificate or GetConfigForClient; without any,
	// Serve fails at once).
	TLSConfig *tls.Config
}

// maxHeaderBytes bounds request headers (CloudEvents binary mode puts
// attributes there, nothing else needs much).
const maxHeaderBytes = 64 << 10

// server returns the http.Server of h: the module's timeouts, its header
// limit and s's TLS configuration.
func (s *HTTPServer) server(h http.Handler) *http.Server {
	srv := httpserver.New(h, nil)
	srv.MaxHeaderBytes, srv.TLSConfig = maxHeaderBytes, s.TLSConfig
	return srv
}

// errNoCertificate refuses a TLSConfig that http.Server.ServeTLS would
// complete from certificate files, of which an HTTPServer names none.
var errNoCertificate = errors.New("listener: HTTPServer.TLSConfig has no certificate: set its Certificates or GetCertificate")

// Serve implements [Source]. A nil d is refused with an error at once.
func (s *HTTPServer) Serve(ctx context.Context, d Dispatcher) error {
	if d == nil {
		// Every request would be answered 500, the server up for nothing.
		if s.NetListener != nil {
			_ = s.NetListener.Close()
		}
		return errors.New("listener: HTTPServer: nil Dispatcher")
	}
	if c := s.TLSConfig; c != nil && len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		if s.NetListener != nil {
			_ = s.NetListener.Close()
		}
		return errNoCertificate
	}
	ln := s.NetListener
	if ln == nil {
		if s.Addr == "" {
			return errors.New("listener: HTTPServer needs Addr or NetListener")
		}
		var err error
		var lc net.ListenConfig
		if ln, err = lc.Listen(ctx, "tcp", s.Addr); err != nil {
			return fmt.Errorf("listener: %w", err)
		}
	}
	h := s.Handler
	h.Dispatcher = d
	var handler http.Handler = &h
	if s.Path != "" {
		path := s.Path
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != path {
				http.NotFound(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	srv := s.server(handler)
	errc := make(chan error, 1)
	go func() {
		if s.TLSConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("listener: http server: %w", err)
	case <-ctx.Done():
	}
	timeout := defaultDrainTimeout
	if g, ok := d.(*gate); ok {
		timeout = g.drainTimeout
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("%w: http server: %w", ErrDrainTimeout, err)
	}
	return nil
}
