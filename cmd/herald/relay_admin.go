package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/httpserver"
	"github.com/heraldhq/herald/outbox"
)

// The relay's --admin-listen server: /metrics (from the relay's telemetry,
// relay_telemetry.go), /healthz, /readyz, and the outbox's dead letters
// under /outbox/ when it listens on loopback.

// readyTimeout bounds the store check of one /readyz.
const readyTimeout = 2 * time.Second

// adminServer is the relay's --admin-listen server.
type adminServer struct {
	srv      *http.Server
	ln       net.Listener
	draining atomic.Bool
}

// newAdmin listens on addr and builds the admin handlers.
func newAdmin(addr string, tel *relayTelemetry, st store, logger *slog.Logger) (*adminServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--admin-listen: %w", err)
	}
	a := &adminServer{ln: ln}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", tel.metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { answer(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { a.ready(w, r, st) })
	if isLoopback(ln.Addr()) {
		mux.Handle("/outbox/", loopbackHost(http.StripPrefix("/outbox", outbox.AdminHandler(st))))
	} else {
		logger.Info("relay: the admin address is not loopback: the dead letters (/outbox/) are not served there")
	}
	a.srv = httpserver.New(mux, slog.NewLogLogger(logger.Handler(), slog.LevelWarn))
	return a, nil
}

// ready answers /readyz: 200 while the relay takes events and its store
// answers, 503 while it drains or when the store does not.
func (a *adminServer) ready(w http.ResponseWriter, r *http.Request, st store) {
	if a.draining.Load() {
		answer(w, http.StatusServiceUnavailable, "draining")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := reach(ctx, st); err != nil {
		answer(w, http.StatusServiceUnavailable, "store unreachable")
		return
	}
	answer(w, http.StatusOK, "ready")
}

// reach reports whether st's server answers: a store that keeps its
// counts in memory (JetStream) is asked something of its server instead
// of Stats, which would answer while the server is down.
func reach(ctx context.Context, st store) error {
	if p, ok := st.(interface{ ping(context.Context) error }); ok {
		return p.ping(ctx)
	}
	_, err := st.Stats(ctx)
	return err
}

// answer writes a short plain-text reply.
func answer(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// isLoopback reports whether addr is a loopback TCP address.
func isLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// loopbackHost serves h only to requests whose Host names a loopback
// address or localhost. Listening on loopback keeps other machines out,
// not a web page on this one: its domain re-pointed to 127.0.0.1 (DNS
// rebinding) makes its requests same-origin, so a browser would send them,
// without asking first, to replay or purge dead letters, or to an
// unverified (--in-insecure) intake.
func loopbackHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hp, _, err := net.SplitHostPort(host); err == nil {
			host = hp
		}
		ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
		if err == nil && ip.IsLoopback() || strings.EqualFold(host, "localhost") {
			h.ServeHTTP(w, r)
			return
		}
		answer(w, http.StatusForbidden, "this port answers a loopback Host only")
	})
}

// adminURL is the address the admin server listens on, as a URL.
func (a *adminServer) adminURL() string {
	return "http://" + strings.TrimSpace(a.ln.Addr().String())
}

// serveAdmin starts the admin server, if any, and says where it listens.
func (r *relay) serveAdmin(stderr io.Writer) {
	if r.admin == nil {
		return
	}
	go func() {
		if err := r.admin.srv.Serve(r.admin.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.logger.Error("relay: admin server failed", "err", err)
		}
	}()
	r.f.log.announce(stderr, r.logger, "relay admin listening", r.admin.adminURL())
}

// stopObservability closes the admin server and flushes the telemetry,
// once the relay has stopped.
func (r *relay) stopObservability() {
	if r.admin != nil {
		r.admin.srv.Close()
	}
	r.tel.shutdown(r.logger)
}
