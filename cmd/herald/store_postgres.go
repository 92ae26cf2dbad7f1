package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgservicefile"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
)

// pgConnectTimeout bounds connecting to PostgreSQL and opening the outbox.
const pgConnectTimeout = 30 * time.Second

// pgStore is an outbox on PostgreSQL with the pool it owns.
type pgStore struct {
	outbox.Store
	pool *pgxpool.Pool
}

// OrdersByKey passes on the store's key order (see outbox.Store), which
// embedding hides from the relay's and the Queue's type assertions.
func (s pgStore) OrdersByKey() bool {
	ko, ok := s.Store.(interface{ OrdersByKey() bool })
	return ok && ko.OrdersByKey()
}

// Wake passes on the store's wake-ups (see outbox.Store), so that the
// relay's workers start as soon as any process enqueues.
func (s pgStore) Wake() <-chan struct{} {
	if w, ok := s.Store.(interface{ Wake() <-chan struct{} }); ok {
		return w.Wake()
	}
	return nil
}

// Close closes the outbox, then its pool.
func (s pgStore) Close() error {
	err := s.Store.Close()
	s.pool.Close()
	return err
}

// openPostgres opens the outbox at a postgres:// URL (see pgConfig). Only
// storeCreate creates its tables. No error quotes the URL: it may hold a
// password. It gives up when ctx ends.
func openPostgres(ctx context.Context, spec string, mode storeMode) (store, error) {
	cfg, o, err := pgConfig(spec)
	if err != nil {
		return nil, err
	}
	o.NoCreate = mode != storeCreate
	ctx, cancel := context.WithTimeout(ctx, pgConnectTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("--store %s: %w", storeName(spec), err)
	}
	ob, err := pgstore.Open(ctx, pool, o)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("--store %s: %w", storeName(spec), err)
	}
	return pgStore{Store: ob, pool: pool}, nil
}

// pgConfig parses a postgres:// --store: the tables herald_outbox_* in
// the connection's current schema, or in the schema and with the prefix
// the query parameters herald_schema and herald_prefix name, which are
// taken out before the configuration reaches the driver. The driver's own
// parser (libpq's rules) reads the URL, and herald's parameters are taken
// from what it read: a second parser would disagree with it on some URL
// (net/url takes a # for a fragment, libpq for part of the query) and let
// herald_prefix through as a server setting. Its errors wrap
// [outbox.ErrInvalid] and never quote the URL.
func pgConfig(spec string) (*pgxpool.Config, *pgstore.Options, error) {
	spec = pgURL(spec)
	if err := checkPGFiles(spec); err != nil {
		return nil, nil, fmt.Errorf("%w: --store: %w", outbox.ErrInvalid, err)
	}
	cfg, err := pgxpool.ParseConfig(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --store: the postgres:// URL is not valid (not shown)", outbox.ErrInvalid)
	}
	params := cfg.ConnConfig.RuntimeParams
	o := &pgstore.Options{Schema: params["herald_schema"], Prefix: params["herald_prefix"]}
	delete(params, "herald_schema")
	delete(params, "herald_prefix")
	return cfg, o, nil
}

// pgURL returns a postgres:// --store with its scheme in lower case. The
// driver reads a URL only by "postgres://" or "postgresql://", and
// anything else as libpq's keyword/value form: "Postgres://x/db?a=1
// host=db sslrootcert=/dev/zero" would connect elsewhere than the URL
// says, and read a file that checkPGFiles, which reads the query of a
// URL, never saw.
func pgURL(spec string) string {
	scheme, rest, _ := strings.Cut(spec, "://")
	return strings.ToLower(scheme) + "://" + rest
}

// pgFiles are the settings whose files the PostgreSQL driver reads while it
// parses a URL (whole, for the certificates and key), by their query key
// and environment variable.
var pgFiles = []struct{ key, env string }{
	{"sslrootcert", "PGSSLROOTCERT"}, {"sslcert", "PGSSLCERT"}, {"sslkey", "PGSSLKEY"},
	{"passfile", "PGPASSFILE"}, {"servicefile", "PGSERVICEFILE"},
}

// checkPGFiles refuses, before the driver reads it, a file that spec's
// query or the environment names for one of pgFiles and that is not a
// regular file of at most maxKeyFile bytes (checkConnFile): /dev/zero
// would fill the memory, a FIFO hang the parse. A file that does not
// exist is left to the driver, which ignores a missing passfile. The
// files the driver reads by default are checked too (checkPGDefaults). Errors
// name the key or the variable, never the value: a query split where the
// driver would not split it may hold part of a password.
func checkPGFiles(spec string) error {
	var q url.Values
	if _, query, ok := strings.Cut(spec, "?"); ok {
		q, _ = url.ParseQuery(query) // what it cannot parse, the driver refuses
	}
	services, err := pgServiceSettings(q)
	if err != nil {
		return err
	}
	for _, f := range pgFiles {
		type named struct{ name, file string }
		files := []named{{"the file of " + f.env, os.Getenv(f.env)}}
		for _, v := range q[f.key] {
			files = append(files, named{"the file of " + f.key + " in the URL", v})
		}
		for _, settings := range services {
			files = append(files, named{"the file of " + f.key + " in the service file", settings[f.key]})
		}
		for _, n := range files {
			if n.file == "" || f.key == "sslrootcert" && n.file == "system" {
				continue
			}
			if _, err := os.Stat(n.file); err != nil {
				continue
			}
			if err := checkConnFile(n.file, n.name); err != nil {
				return err
			}
		}
	}
	return checkPGDefaults(spec, pgSettings{q, services})
}

// pgSettings are the settings of a postgres:// --store the driver merges,
// but for its defaults: the URL's query over the services' settings over
// the environment's variables.
type pgSettings struct {
	query    url.Values
	services []map[string]string
}

// given reports whether key is set by the query, a service or (when not
// empty) the environment variable env, as the driver merges them, and its
// value.
func (s pgSettings) given(key, env string) (string, bool) {
	if vs, ok := s.query[key]; ok {
		return vs[0], true
	}
	for _, settings := range s.services {
		if v, ok := settings[key]; ok {
			return v, true
		}
	}
	v := os.Getenv(env)
	return v, v != ""
}

// checkPGDefaults checks, as checkPGFiles checks the files a URL names,
// the files the driver defaults to under the home directory that it would
// read for spec: ~/.pgpass when no password and no passfile is given,
// ~/.postgresql/root.crt when no sslrootcert is, and postgresql.crt and
// postgresql.key (which it takes only together) when neither sslmode nor
// sslcertmode is disable. A default that does not exist is fine. (It
// checks them for a connection over a Unix socket too, for which the
// driver reads no certificate.)
func checkPGDefaults(spec string, s pgSettings) error {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil // the driver has no defaults either
	}
	dir := filepath.Join(home, ".postgresql")
	var files []string
	if _, ok := s.given("passfile", "PGPASSFILE"); !ok && !pgPasswordGiven(spec, s) {
		files = append(files, filepath.Join(home, ".pgpass"))
	}
	if _, ok := s.given("sslrootcert", "PGSSLROOTCERT"); !ok {
		files = append(files, filepath.Join(dir, "root.crt"))
	}
	cert, key := filepath.Join(dir, "postgresql.crt"), filepath.Join(dir, "postgresql.key")
	mode, _ := s.given("sslmode", "PGSSLMODE")
	certMode, _ := s.given("sslcertmode", "PGSSLCERTMODE")
	if exists(cert) && exists(key) && mode != "disable" && certMode != "disable" {
		if _, ok := s.given("sslcert", "PGSSLCERT"); !ok {
			files = append(files, cert)
		}
		if _, ok := s.given("sslkey", "PGSSLKEY"); !ok {
			files = append(files, key)
		}
	}
	for _, file := range files {
		if !exists(file) {
			continue
		}
		label := "~" + strings.TrimPrefix(file, home) + " (a file the PostgreSQL driver reads by default)"
		if err := checkConnFile(file, label); err != nil {
			return err
		}
	}
	return nil
}

// pgPasswordGiven reports whether spec's user information, its query, a
// service or PGPASSWORD gives a password, as the driver reads them: only a
// / ends the user information, at its first @.
func pgPasswordGiven(spec string, s pgSettings) bool {
	_, rest, _ := strings.Cut(spec, "://")
	if i := strings.IndexAny(rest, "@/"); i >= 0 && rest[i] == '@' {
		if _, pw, ok := strings.Cut(rest[:i], ":"); ok && pw != "" {
			return true
		}
	}
	_, ok := s.given("password", "PGPASSWORD")
	return ok
}

// exists reports whether name exists, following symbolic links, as the
// driver asks before it takes a default file.
func exists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// pgServiceSettings returns the settings of each service that spec's query
// q or PGSERVICE names, as the service files that q, PGSERVICEFILE or,
// when neither names one, the driver's default (~/.pg_service.conf) hold
// them: the driver reads
// the files those settings name too (sslrootcert=/dev/zero in a service).
// Each service file that exists is checked first, as checkPGFiles checks
// the others; one the driver cannot read or parse is left to it.
func pgServiceSettings(q url.Values) ([]map[string]string, error) {
	names := append([]string{os.Getenv("PGSERVICE")}, q["service"]...)
	files := append([]string{os.Getenv("PGSERVICEFILE")}, q["servicefile"]...)
	// The default file is read only for a service, when none is named.
	named := os.Getenv("PGSERVICEFILE") != "" || len(q["servicefile"]) > 0
	if home, err := os.UserHomeDir(); err == nil && !named && slices.ContainsFunc(names, func(n string) bool { return n != "" }) {
		files = append(files, filepath.Join(home, ".pg_service.conf"))
	}
	var all []map[string]string
	for _, file := range files {
		if _, err := os.Stat(file); file == "" || err != nil {
			continue
		}
		if err := checkConnFile(file, "the service file"); err != nil {
			return nil, err
		}
		sf, err := pgservicefile.ReadServicefile(file)
		if err != nil {
			continue
		}
		for _, name := range names {
			if s, err := sf.GetService(name); name != "" && err == nil {
				all = append(all, s.Settings)
			}
		}
	}
	return all, nil
}
