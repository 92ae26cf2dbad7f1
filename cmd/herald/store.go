package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
)

// store is an outbox as the relay and herald outbox use it: what a Queue
// needs and what people need to repair it.
type store interface {
	outbox.Outbox
	outbox.Admin
}

// storeMode says how a command opens --store.
type storeMode int

const (
	// storeCreate opens a store for a relay, creating it if missing.
	storeCreate storeMode = iota
	// storeExisting opens a store that must exist, for writing.
	storeExisting
	// storeReadOnly opens a store that must exist, to read only.
	storeReadOnly
)

// openStore opens the outbox named by --store. A value with a URL scheme
// picks the engine by it; anything else is the path of a bbolt file. Only
// a relay (storeCreate) creates an outbox that does not exist. nf holds the
// --nats-* flags of a NATS JetStream outbox. Connecting to a server stops
// when ctx ends (a relay's signal during start-up), with ctx's error.
func openStore(ctx context.Context, spec string, mode storeMode, nf *natsFlags) (store, error) {
	switch storeEngine(spec) {
	case "postgres":
		return openPostgres(ctx, spec, mode)
	case "nats":
		return openNATSStore(ctx, spec, mode, nf)
	}
	if looksLikeDSN(spec) {
		return nil, errors.New("--store: neither a postgres:// or nats:// URL nor a file path (not shown: it may hold a password)")
	}
	o := &boltstore.Options{NoCreate: mode != storeCreate, ReadOnly: mode == storeReadOnly}
	st, err := boltstore.Open(spec, o)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// signalContext returns a context that ends at SIGINT or SIGTERM, for a
// command that connects to a store (which may take 30 s) to stop cleanly
// when it is interrupted: with the exit status it documents and a line,
// not killed by the signal. The first signal also gives the signals back
// their default action, so that a second one kills at once: a driver may
// hang where no context reaches it (opening a ~/.pgpass that is a FIFO),
// and an operator must still be able to stop herald without SIGKILL.
func signalContext() (ctx context.Context, stop context.CancelFunc) {
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

// storeEngine names the engine --store selects: "postgres", "nats" or
// "bolt" (a file path).
func storeEngine(spec string) string {
	scheme, _, ok := strings.Cut(spec, "://")
	if !ok {
		return "bolt"
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		return "postgres"
	case "nats", "tls":
		return "nats"
	}
	return "bolt"
}

// storeName is --store as it may be logged or printed: a URL without its
// user information and query (which may carry passwords or tokens), but
// for a postgres:// URL's herald_schema and herald_prefix; a path as it
// is. A NATS --store may list several URLs, separated by commas.
func storeName(spec string) string {
	if storeEngine(spec) == "bolt" {
		if looksLikeDSN(spec) || strings.ContainsAny(spec, "@=") {
			return "(a --store with @ or =, not shown)"
		}
		return spec
	}
	parts := []string{spec}
	if storeEngine(spec) == "nats" {
		parts = strings.Split(spec, ",")
	}
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		// A postgres:// URL may name no host: its socket is then in
		// ?host=, or the driver's default. Its path then shows only a
		// database name: one with an @ may be a mistyped password.
		noHost := u != nil && u.Host == "" && (storeEngine(spec) != "postgres" || strings.Contains(u.Path, "@"))
		if err != nil || u.Scheme == "" || noHost || atAfterDelimiter(p) {
			// Not shown: it may be the rest of a password that held a
			// comma, or anything else typed by mistake.
			parts[i] = storeEngine(spec) + "://(unparsable URL, not shown)"
			continue
		}
		if storeEngine(spec) == "nats" {
			u.Path = "" // a NATS URL has none; whatever is there was typed by mistake
		}
		parts[i] = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawQuery: outboxQuery(p)}).String()
	}
	return strings.Join(parts, ",")
}

// outboxQuery returns the herald_schema and herald_prefix of a postgres://
// --store as a query, encoded, and "" for any other: two relays on one
// database differ by them alone, and neither is a secret. The rest of the
// query is left out.
func outboxQuery(spec string) string {
	if storeEngine(spec) != "postgres" {
		return ""
	}
	_, o, err := pgConfig(spec)
	if err != nil {
		return ""
	}
	q := url.Values{}
	if o.Schema != "" {
		q.Set("herald_schema", o.Schema)
	}
	if o.Prefix != "" {
		q.Set("herald_prefix", o.Prefix)
	}
	return q.Encode()
}

// looksLikeDSN reports whether a --store that names no known engine was
// meant as a connection string rather than a file: a URL of another
// scheme, a mistyped postgres or nats one, or libpq's key=value form. The
// relay would otherwise create a bbolt file named after it, and print the
// name, password and all.
func looksLikeDSN(spec string) bool {
	lower := strings.ToLower(spec)
	if strings.Contains(lower, "://") || strings.Contains(lower, "password=") {
		return true
	}
	// "user:password@host/db": a URL whose scheme was left out. A file
	// path seldom has a ':' and then an '@' in its first element.
	first, _, _ := strings.Cut(spec, "/")
	if at := strings.IndexByte(first, '@'); at > 0 && strings.Contains(first[:at], ":") {
		return true
	}
	for _, scheme := range []string{"postgres", "postgresql", "nats", "tls"} {
		// "postgresql:/…" or "postgres//…"; "postgres/outbox.db" is a
		// path in a directory named postgres.
		if rest, ok := strings.CutPrefix(lower, scheme); ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "//")) {
			return true
		}
	}
	return false
}

// atAfterDelimiter reports whether the URL u has an @ after a /, ? or #
// of its authority part. Parsers disagree on such a URL: libpq (and so
// pgx) ends the user information at the first @, net/url ends the
// authority at the first /, ? or #, so "postgres://u:1234?x@host/db" is a
// password 1234?x to the driver and a host u, port 1234, to net/url, which
// would print the start of the password as the host.
func atAfterDelimiter(u string) bool {
	_, rest, _ := strings.Cut(u, "://")
	at := strings.IndexByte(rest, '@')
	return at >= 0 && strings.ContainsAny(rest[:at], "/?#")
}

// storeError adds to err, from opening --store, what the user can do. A
// --store that storeName would not show is not shown in err either.
func storeError(err error, spec string, mode storeMode) error {
	if name := storeName(spec); name != spec && strings.Contains(err.Error(), spec) {
		err = redactedError{err, strings.ReplaceAll(err.Error(), spec, name)}
	}
	switch {
	case errors.Is(err, boltstore.ErrLocked) && mode == storeCreate:
		return fmt.Errorf("%w (is another relay or herald outbox using %s?)", err, storeName(spec))
	case errors.Is(err, boltstore.ErrLocked):
		return fmt.Errorf("%w (stop the relay using it first)", err)
	case errors.Is(err, outbox.ErrCorrupt):
		return fmt.Errorf("%w (is --store a herald relay's outbox? The file was left as it was)", err)
	case errors.Is(err, fs.ErrNotExist):
		return err
	}
	return err
}

// storeUsage reports whether err, from opening --store, is the command
// line's fault, as herald outbox classifies it: a --store that is not
// valid (a directory, a device, a malformed URL) or, for a file, whose
// directory does not exist. relay and outbox both exit 2 for it.
func storeUsage(err error, spec string) bool {
	return errors.Is(err, outbox.ErrInvalid) || errors.Is(err, fs.ErrNotExist) && storeEngine(spec) == "bolt"
}

// redactedError is err with the text msg, where a --store was replaced by
// what may be shown of it; errors.Is and As still see err.
type redactedError struct {
	err error
	msg string
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }
