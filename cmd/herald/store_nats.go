package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/natsstore"
)

// natsOpenTimeout bounds connecting to NATS and loading the outbox index.
const natsOpenTimeout = 30 * time.Second

// natsDuplicateWindow is how long a new JetStream outbox keeps the id of a
// delivered delivery reserved: the relay's own deduplication window, so
// that an event posted again to any relay of a fleet within 10 minutes of
// its delivery is not sent twice.
const natsDuplicateWindow = 10 * time.Minute

// errNoStream is herald outbox's error when a nats:// --store names a
// stream that does not exist: like a missing file, it is never created.
var errNoStream = errors.New("no such outbox stream")

// natsFlags is the flag group of a command that opens a NATS JetStream
// outbox (relay, outbox): the credentials and TLS files of the connection.
// Each may instead be given in the --store URL's query (creds=FILE,
// cacert=FILE, cert=FILE, key=FILE).
type natsFlags struct {
	creds, cacert, cert, key string
	// logger, set by the caller, receives the connection's disconnects
	// and reconnects; nil logs nothing.
	logger *slog.Logger
}

// register defines --nats-creds, --nats-cacert, --nats-cert and --nats-key.
func (f *natsFlags) register(fs *flagSet) {
	fs.StringVar(&f.creds, "nats-creds", "", "NATS credentials `file` (user JWT and nkey seed) for a nats:// --store")
	fs.StringVar(&f.cacert, "nats-cacert", "", "trust only the CA certificates in this PEM `file` for the NATS server")
	fs.StringVar(&f.cert, "nats-cert", "", "client certificate PEM `file` for the NATS server (with --nats-key)")
	fs.StringVar(&f.key, "nats-key", "", "private key PEM `file` of --nats-cert")
}

// given reports whether any of the flags is set, so that a command can
// refuse them beside a --store that is not a NATS URL.
func (f *natsFlags) given() bool {
	return f.creds != "" || f.cacert != "" || f.cert != "" || f.key != ""
}

// natsSpec is a nats:// or tls:// --store, parsed: the server URLs (with
// their user information, for the connection only) and the outbox's
// stream settings and connection files.
type natsSpec struct {
	servers  []string // each URL without its query
	stream   string   // empty: natsstore's default
	subject  string   // empty: natsstore's default
	replicas int      // zero: keep an existing stream's, else 1
	files    natsFlags
}

// natsQueryKeys are the keys a NATS --store URL's query may hold.
var natsQueryKeys = []string{"stream", "subject", "replicas", "creds", "cacert", "cert", "key"}

// parseNATSSpec parses a NATS --store: one URL, or several (the servers of
// a cluster) separated by commas; a query on any of them sets the outbox's
// stream, subject and replicas and the connection files. Errors name what
// is wrong, never the user information of a URL.
func parseNATSSpec(spec string) (natsSpec, error) {
	var s natsSpec
	q := url.Values{}
	for part := range strings.SplitSeq(spec, ",") {
		if atAfterDelimiter(part) {
			// net/url would end the host at the delimiter and read the
			// rest of the password as a query (see atAfterDelimiter).
			return s, fmt.Errorf("--store: server %d has an @ after a /, ? or # (percent-encode them in a password)", len(s.servers)+1)
		}
		u, err := url.Parse(strings.TrimSpace(part))
		if err != nil {
			// Not quoted, not even through storeName: a part alone may
			// have no scheme, and storeName shows what has none as a
			// file name, whole.
			return s, fmt.Errorf("--store: server %d is not a URL", len(s.servers)+1)
		}
		switch {
		case u.Scheme != "nats" && u.Scheme != "tls":
			return s, fmt.Errorf("--store: server %d: want a nats:// or tls:// URL", len(s.servers)+1)
		case u.Host == "" || u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "":
			return s, fmt.Errorf("--store: server %d: want nats://[USER:PASSWORD@]HOST:PORT[?stream=…]", len(s.servers)+1)
		}
		query, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return s, fmt.Errorf("--store: server %d: malformed query", len(s.servers)+1)
		}
		for k, vs := range query {
			for _, v := range vs {
				if old := q.Get(k); old != "" && old != v {
					return s, fmt.Errorf("--store: two values of %s in the query", k)
				}
				q.Set(k, v)
			}
		}
		u.RawQuery, u.ForceQuery, u.Path = "", false, ""
		s.servers = append(s.servers, u.String())
	}
	for k := range q {
		if !slices.Contains(natsQueryKeys, k) {
			return s, fmt.Errorf("--store: unknown query key %q (want %s)", k, strings.Join(natsQueryKeys, ", "))
		}
	}
	s.stream, s.subject = q.Get("stream"), q.Get("subject")
	s.files = natsFlags{creds: q.Get("creds"), cacert: q.Get("cacert"), cert: q.Get("cert"), key: q.Get("key")}
	if r := q.Get("replicas"); r != "" {
		n, err := strconv.Atoi(r)
		if err != nil || n < 1 || n > 5 {
			return s, errors.New("--store: replicas must be 1 to 5")
		}
		s.replicas = n
	}
	return s, nil
}

// merge sets the connection files of s from the flags f, refusing a file
// given both ways with different values.
func (s *natsSpec) merge(f *natsFlags) error {
	pairs := []struct {
		name      string
		url, flag *string
	}{{"creds", &s.files.creds, &f.creds}, {"cacert", &s.files.cacert, &f.cacert}, {"cert", &s.files.cert, &f.cert}, {"key", &s.files.key, &f.key}}
	for _, p := range pairs {
		switch {
		case *p.flag == "":
		case *p.url != "" && *p.url != *p.flag:
			return fmt.Errorf("--nats-%s and the --store query's %s differ", p.name, p.name)
		default:
			*p.url = *p.flag
		}
	}
	for _, p := range pairs {
		if looksSecret(*p.url) { // the NATS client's errors quote file names
			return fmt.Errorf("--nats-%s: the name looks like a key, not a file (not shown)", p.name)
		}
	}
	if (s.files.cert == "") != (s.files.key == "") {
		return errors.New("--nats-cert and --nats-key go together")
	}
	for _, p := range pairs {
		if *p.url != "" {
			if err := checkConnFile(*p.url, "--nats-"+p.name+" file "+*p.url); err != nil {
				return err
			}
		}
	}
	s.files.logger = f.logger
	return nil
}

// connect connects to the servers of s. The connection rides out a server
// restart: it reconnects forever, and logs each disconnect and reconnect
// (with the server's URL, without its user information) to s.files.logger.
func (s *natsSpec) connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("herald " + name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.Timeout(5 * time.Second),
	}
	if s.files.creds != "" {
		opts = append(opts, nats.UserCredentials(s.files.creds))
	}
	if s.files.cacert != "" {
		opts = append(opts, nats.RootCAs(s.files.cacert))
	}
	if s.files.cert != "" {
		opts = append(opts, nats.ClientCert(s.files.cert, s.files.key))
	}
	if log := s.files.logger; log != nil {
		opts = append(opts,
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				log.Warn("nats: disconnected; reconnecting", "err", errText(err))
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) {
				log.Info("nats: reconnected", "server", serverURL(nc.ConnectedUrl()))
			}),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				log.Warn("nats: asynchronous error", "err", errText(err))
			}))
	}
	nc, err := nats.Connect(strings.Join(s.servers, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	return nc, nil
}

// connectContext is connect, given up when ctx ends: the NATS client
// takes no context, and waits up to its timeout for each server that
// accepts and does not answer. A connection made after ctx ended is
// closed.
func (s *natsSpec) connectContext(ctx context.Context, name string) (*nats.Conn, error) {
	type conn struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan conn, 1)
	go func() {
		nc, err := s.connect(name)
		ch <- conn{nc, err}
	}()
	select {
	case c := <-ch:
		return c.nc, c.err
	case <-ctx.Done():
		go func() {
			if c := <-ch; c.nc != nil {
				c.nc.Close()
			}
		}()
		return nil, fmt.Errorf("connecting to NATS: %w", ctx.Err())
	}
}

// serverURL is a server URL without its user information, for logs: the
// NATS client's ConnectedUrlRedacted masks a password only, and would show
// a token given as nats://TOKEN@HOST.
func serverURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "" // the error quotes the URL
	}
	u.User = nil
	return u.String()
}

// errText is err's message, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// natsStore is a JetStream outbox with the connection it owns: Close
// closes both.
type natsStore struct {
	outbox.Store
	nc       *nats.Conn
	js       jetstream.JetStream
	replicas int // of the outbox stream, for the relay's event streams
}

// ping asks the JetStream server for the account's information: the
// outbox answers Stats from memory, even while the server is down.
func (s *natsStore) ping(ctx context.Context) error {
	_, err := s.js.AccountInfo(ctx)
	return err
}

// Close closes the outbox, then its connection.
func (s *natsStore) Close() error {
	err := s.Store.Close()
	s.nc.Close()
	return err
}

// openNATSStore opens the JetStream outbox that spec names, connecting
// with the files of f. A relay (storeCreate) creates its stream if
// missing; herald outbox (the other modes) refuses a missing stream with
// errNoStream. An existing stream keeps its replicas and duplicate window
// unless the URL sets replicas, so that a command that does not repeat
// them never changes a fleet's stream. It gives up when ctx ends.
func openNATSStore(ctx context.Context, spec string, mode storeMode, f *natsFlags) (*natsStore, error) {
	s, err := parseNATSSpec(spec)
	if err != nil {
		return nil, usageError{err}
	}
	if err := s.merge(f); err != nil {
		return nil, usageError{err}
	}
	nc, err := s.connectContext(ctx, "outbox")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, natsOpenTimeout)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	cfg, err := s.config(ctx, js, mode)
	if err == nil {
		cfg.Logger = f.logger
		var ob outbox.Store
		if ob, err = natsstore.Open(ctx, js, cfg); err == nil {
			return &natsStore{Store: ob, nc: nc, js: js, replicas: cfg.Replicas}, nil
		}
	}
	nc.Close()
	return nil, err
}

// config is the natsstore.Config of s: what the URL says, and for what it
// does not say, the existing stream's settings (or, for a new stream, the
// relay's defaults).
func (s *natsSpec) config(ctx context.Context, js jetstream.JetStream, mode storeMode) (natsstore.Config, error) {
	cfg := natsstore.Config{Stream: s.stream, Subject: s.subject, Replicas: s.replicas, DuplicateWindow: natsDuplicateWindow}
	name := cfg.Stream
	if name == "" {
		name = "HERALD_OUTBOX"
	}
	st, err := js.Stream(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound) && mode != storeCreate:
		return cfg, fmt.Errorf("%w %s on the NATS server (herald outbox never creates one; has a relay used this --store?)", errNoStream, name)
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return cfg, nil
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return cfg, fmt.Errorf("looking up outbox stream %s: %w (is JetStream enabled on the server? nats-server -js)", name, err)
	case err != nil:
		return cfg, fmt.Errorf("looking up outbox stream %s: %w", name, err)
	}
	info := st.CachedInfo()
	if cfg.Replicas == 0 {
		cfg.Replicas = info.Config.Replicas
	}
	cfg.DuplicateWindow = info.Config.Duplicates
	cfg.Storage = info.Config.Storage
	if cfg.Subject == "" && len(info.Config.Subjects) == 1 {
		cfg.Subject = strings.TrimSuffix(info.Config.Subjects[0], ".>")
	}
	return cfg, nil
}
