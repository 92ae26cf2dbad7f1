package boltstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
)

// ErrLocked: the outbox file is held by another process (or another store
// in this one) and was not released within Options.LockTimeout.
var ErrLocked = errors.New("boltstore: outbox file is locked by another process")

// Defaults for the zero fields of [Options].
const (
	defaultLockTimeout = time.Second
	defaultFileMode    = 0o600
)

// Group commit: a commit takes at most maxBatch changes, and waits at most
// maxLinger for more once it found several waiting, so that concurrent
// writers share more fsyncs. It stops waiting as soon as no change came
// for 100 µs, and a lone writer never waits.
const (
	maxBatch  = 4096
	maxLinger = 2 * time.Millisecond
)

// Options tune the store of [Open]. The zero value (or nil) selects the defaults.
type Options struct {
	// LockTimeout bounds the wait for the file lock at Open; zero means
	// one second.
	LockTimeout time.Duration
	// FileMode is the permission of a new file; zero means
	// 0600.
	FileMode fs.FileMode
	// NoCreate makes Open refuse a path that is not a herald outbox
	// already, instead of making one there: a missing or empty file, a
	// bbolt file without the outbox's format marker, or a file that is not
	// bbolt at all. Open writes nothing to a file it refuses. Tools that
	// inspect or repair an existing outbox set it, so that a mistyped path
	// is an error rather than a new, empty outbox.
	NoCreate bool
	// ReadOnly opens an existing outbox to read it, and never writes to
	// the file: it takes a shared lock, so several read-only Stores may
	// open a file at once, but none while a writer holds it (Open then
	// fails with [ErrLocked]). It implies NoCreate, and refuses a file in
	// an older format, since migrating it is a write. Every method that
	// would change the outbox (Put, Settle, Replay, Purge, ...) fails, and
	// so does Lease, as nothing leased could be settled.
	ReadOnly bool
}

// store is the [outbox.Store] in a bbolt file that [Open] returns. Its
// methods are safe for concurrent use.
type store struct {
	db        *bolt.DB
	maxBatch  int
	lingerMax time.Duration
	readOnly  bool // Options.ReadOnly: Lease refuses, as Settle would fail

	// closeMu guards closed and the ops channel: senders and readers hold
	// it for reading, Close for writing.
	closeMu sync.RWMutex
	closed  bool
	ops     chan *op
	done    chan struct{} // closed when the committer has stopped

	// mu guards the lease table, the skips and the leasing rotation.
	mu       sync.Mutex
	leases   map[string]*lease
	skips    map[string]skip // by destination
	lastDest string
	tokens   uint64

	pending, dead atomic.Int64
}

// lease is a live or lapsed lease of one delivery.
type lease struct {
	token string
	until time.Time
	busy  bool   // a settlement of it is being committed
	rec   record // the delivery's record as leased
}

// skip marks where leasing may start in a destination's due index: every
// entry before key is leased, under leases that all last at least until
// until. It spares Lease from stepping again past the deliveries in flight,
// which sit at the head of the index until their outcome is committed. It
// holds while nothing before key can become leasable: Release, a lease
// running out, and a commit adding an entry before key all drop it.
type skip struct {
	key   []byte // the last entry stepped past or leased
	until time.Time
}

// Open opens or creates the outbox file at path, checks it, and starts the
// committer. Close the store when done.
func Open(path string, o *Options) (outbox.Store, error) {
	var opt Options
	if o != nil {
		opt = *o
	}
	if opt.LockTimeout <= 0 {
		opt.LockTimeout = defaultLockTimeout
	}
	if opt.FileMode == 0 {
		opt.FileMode = defaultFileMode
	}
	opt.NoCreate = opt.NoCreate || opt.ReadOnly
	if err := precheck(path, &opt); err != nil {
		return nil, err
	}
	db, err := openBolt(path, opt.FileMode, &bolt.Options{
		Timeout:      opt.LockTimeout,
		ReadOnly:     opt.ReadOnly,
		FreelistType: bolt.FreelistMapType,
		// The list of free pages is not written at each commit: it
		// grows with the free space a drained backlog leaves, and
		// writing it made each commit cost as much. bbolt rebuilds it
		// at Open instead, by walking every page, which precheck makes
		// safe.
		NoFreelistSync: true,
	})
	if err != nil {
		return nil, err
	}
	s := &store{
		db:        db,
		maxBatch:  maxBatch,
		lingerMax: maxLinger,
		readOnly:  opt.ReadOnly,
		ops:       make(chan *op, maxBatch),
		done:      make(chan struct{}),
		leases:    make(map[string]*lease),
		skips:     make(map[string]skip),
	}
	if err := s.setup(path, &opt); err != nil {
		_ = db.Close()
		return nil, err
	}
	go s.commitLoop()
	return s, nil
}

// Close stops the committer after the changes already submitted, closes the
// file and drops every lease. Later calls fail with [outbox.ErrClosed].
func (s *store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	s.closeMu.Unlock()
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// view runs a read transaction unless ctx has ended or the store is closed.
func (s *store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return outbox.ErrClosed
	}
	return guarded(func() error { return s.db.View(fn) })
}

// guarded runs fn, which reads the memory-mapped file, and turns a panic
// over a damaged page into an error wrapping [outbox.ErrCorrupt]. A read
// that a damaged page sends past the end of the mapping is a memory fault,
// which ends the process unless the goroutine asked for a panic instead,
// as guarded does while fn runs. A runtime error (a memory fault, an index
// out of range) is reported without its text, which gives addresses of
// the process: the error may reach an admin client.
func guarded(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		switch r := recover(); r.(type) {
		case nil:
		case runtime.Error:
			err = fmt.Errorf("%w: reading a damaged page failed", outbox.ErrCorrupt)
		default:
			err = fmt.Errorf("%w: %v", outbox.ErrCorrupt, r)
		}
	}()
	return fn()
}

// pathError wraps os errors of a path without leaking anything but the path.
func pathError(path string, err error) error {
	return fmt.Errorf("boltstore: open %s: %w", path, err)
}

// exists reports whether path names a non-empty file.
func exists(path string) (bool, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, pathError(path, err)
	case fi.IsDir():
		return false, pathError(path, fmt.Errorf("%w: is a directory, not an outbox file", outbox.ErrInvalid))
	case !fi.Mode().IsRegular():
		return false, pathError(path, fmt.Errorf("%w: not a regular file", outbox.ErrInvalid))
	}
	return fi.Size() > 0, nil
}
