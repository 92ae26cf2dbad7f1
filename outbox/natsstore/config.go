package natsstore

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Defaults of a [Config], used for its zero fields.
const (
	defaultStream          = "HERALD_OUTBOX"
	defaultSubject         = "herald.outbox"
	defaultDuplicateWindow = 2 * time.Minute
)

// Config says which stream holds the outbox and how it is created. The
// zero value is a single-replica, file-backed stream named HERALD_OUTBOX
// on subjects under herald.outbox. Every process of a fleet opens the
// outbox with the same Config.
type Config struct {
	// Stream names the JetStream stream; empty means HERALD_OUTBOX. Its
	// destination states bucket is named after it (see the package
	// documentation), and that name must fit the server's limit: at most
	// 247 bytes of ASCII letters, digits, '-' and '_', fewer when others
	// must be escaped.
	Stream string
	// Subject is the prefix of the delivery subjects: the stream takes
	// Subject+".>". Empty means herald.outbox. It must not overlap the
	// subjects of another stream.
	Subject string
	// Replicas is the stream's replica count: 1 (zero means 1) for a single
	// server, 3 for a three-node cluster.
	Replicas int
	// Storage is file (the zero value, durable across restarts) or memory
	// (lost when the server stops; for tests).
	Storage jetstream.StorageType
	// DuplicateWindow is how long the server remembers delivery ids for
	// deduplicating Put, and how long the tombstone of an acknowledged or
	// purged delivery keeps its id reserved; zero means
	// 2 minutes. At least one second.
	DuplicateWindow time.Duration
	// Logger receives failures of the index watcher (Warn); nil logs
	// nothing.
	Logger *slog.Logger
}

// withDefaults returns c with its zero fields set, or an error wrapping
// [outbox.ErrInvalid] when c is malformed.
func (c Config) withDefaults() (Config, error) {
	if c.Stream == "" {
		c.Stream = defaultStream
	}
	if c.Subject == "" {
		c.Subject = defaultSubject
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = defaultDuplicateWindow
	}
	switch {
	case strings.ContainsAny(c.Stream, ". *>\t\r\n/\\"):
		return c, fmt.Errorf("%w: stream name %q", outbox.ErrInvalid, c.Stream)
	case len(statesBucket(c.Stream)) > maxBucketName:
		return c, fmt.Errorf("%w: a stream name of %d bytes is too long: its destination states bucket's name would be %d bytes, over %d",
			outbox.ErrInvalid, len(c.Stream), len(statesBucket(c.Stream)), maxBucketName)
	case !wire.SubjectPrefix(c.Subject):
		return c, fmt.Errorf("%w: subject prefix %q (want tokens like \"herald.outbox\", no wildcards)", outbox.ErrInvalid, c.Subject)
	case c.Replicas < 1 || c.Replicas > 5:
		return c, fmt.Errorf("%w: %d replicas (want 1 to 5)", outbox.ErrInvalid, c.Replicas)
	case c.Storage != jetstream.FileStorage && c.Storage != jetstream.MemoryStorage:
		return c, fmt.Errorf("%w: storage type %d", outbox.ErrInvalid, c.Storage)
	case c.DuplicateWindow < time.Second:
		return c, fmt.Errorf("%w: DuplicateWindow %v is under one second", outbox.ErrInvalid, c.DuplicateWindow)
	}
	return c, nil
}

// maxBucketName is the longest name of a key-value bucket: the server
// names its stream KV_ and the bucket's name, at most 255 bytes.
const maxBucketName = 255 - len("KV_")

// streamConfig is the JetStream configuration of the outbox stream.
func (c Config) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              c.Stream,
		Description:       "herald webhook outbox: one record per delivery",
		Subjects:          []string{c.Subject + ".>"},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: 1,
		// A stream at a limit an operator set (max messages, max bytes)
		// refuses the write that would pass it, and Put fails and undoes
		// itself: discarding old would delete the oldest record, a
		// pending delivery that a Put returned nil for. A write that
		// replaces a subject's record (a lease, a settlement) is still
		// taken at a message limit.
		Discard:     jetstream.DiscardNew,
		Storage:     c.Storage,
		Replicas:    c.Replicas,
		Duplicates:  c.DuplicateWindow,
		AllowDirect: true,
		AllowMsgTTL: true,
	}
}
