package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

const outboxDoc = `Outbox inspects and repairs a relay's outbox (--store). A bbolt file only
while no relay uses it (a relay holds its file locked): stats and list open
it read-only, so several of them may run at once; replay and purge open it
for writing. PostgreSQL tables (a postgres:// URL) while relays run: a
replay wakes them at once. None of them creates an outbox: a --store that
is missing, empty or not a herald outbox is refused and left exactly as it
was.

A fleet's JetStream outbox (--store nats://HOST:PORT, with the URL and
--nats-* flags of relay -help) can be inspected and repaired while its
relays run: they see a replay within milliseconds. herald outbox never
creates nor changes its stream; one that does not exist is refused.

  stats    print the number of pending, leased and dead deliveries as JSON:
           {"pending":…,"leased":…,"dead":…} (pending counts the leased
           too, and the deliveries a disabled destination holds)
  list     print the dead letters, one JSON line each, as the outbox's admin
           handler lists them (never a body):
           {"id":…,"destination":…,"event_id":…,"topic":…,"content_type":…,"due":…,
            "created":…,"attempts":…,"reason":…,"dead_at":…}
  replay   make the selected dead letters pending again, due at once, with
           their attempt count reset; the next relay sends them
  purge    delete the selected dead letters for good
  states   print each destination the outbox records as failing or disabled
           (held: its deliveries wait until enable), one JSON line each, by name:
           {"destination":…,"failing_since":…,"disabled":…,"reason":…}
           (failing_since and disabled are RFC 3339 times, each left out
           when unset: a destination without "disabled" is only failing)
  enable   enable the destination --dest NAME that a relay disabled (it
           answered 410 Gone, or failed for its disable_after), so that the
           next relay sends its held deliveries; prints "enabled NAME" and
           why it was disabled, or "NAME was not disabled" (a running
           relay's loopback --admin-listen does the same at POST
           /outbox/destinations/enable, on a bbolt file it holds too)

list takes --dest to show one destination's dead letters. replay and purge
need one selection: --dest NAME (all of its dead letters), --id ID
(repeatable) or --all, not two of them. They print how many dead letters
they replayed or purged.

A signal (SIGINT, SIGTERM) stops any of them, while it connects to --store
too, with exit status 1 and a line saying so, and a second signal at once;
replay and purge stopped before their end may have done part of their
work.`

const outboxExample = `herald outbox stats --store relay.db
herald outbox list --store relay.db --dest a
herald outbox replay --store relay.db --dest a
herald outbox purge --store relay.db --id 0f8e4b1c-…
herald outbox replay --store nats://nats1:4222 --nats-creds admin.creds --dest a
herald outbox replay --store postgres://relay@db.internal/shop --all
herald outbox states --store relay.db
herald outbox enable --store relay.db --dest a`

// outboxActions are the actions of herald outbox, and how its usage
// lists them.
var (
	outboxActions     = []string{"stats", "list", "states", "replay", "purge", "enable"}
	outboxActionsText = strings.Join(outboxActions[:len(outboxActions)-1], ", ") + " or " + outboxActions[len(outboxActions)-1]
)

// runOutbox implements "herald outbox".
func runOutbox(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("outbox", "herald outbox stats|list|states|replay|purge|enable --store FILE|URL [--dest NAME] [--id ID]... [--all]", outboxDoc, outboxExample)
	store := fs.String("store", "", "the relay's outbox: its bbolt `file`, its nats://HOST:PORT URL, or its postgres:// URL (with the relay's ?herald_schema and herald_prefix, if any; the password from PGPASSWORD or ~/.pgpass keeps it out of ps) (required)")
	var nf natsFlags
	nf.register(fs)
	dest := fs.String("dest", "", "only the dead letters of the destination with this `name`")
	var ids stringList
	fs.Var(&ids, "id", "the dead letter with this delivery `id`; repeatable")
	all := fs.Bool("all", false, "replay or purge every dead letter")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	usage := func(format string, a ...any) int { return usageErr(stderr, "outbox", format, a...) }
	if fs.NArg() != 1 {
		return usage("want one action: %s", outboxActionsText)
	}
	action := fs.Args()[0]
	sel := outbox.Selector{IDs: ids, Destination: *dest, All: *all}
	switch {
	case !slices.Contains(outboxActions, action):
		return usage("unknown action %s (want %s)", showArg(action), outboxActionsText)
	case *store == "":
		return usage("missing --store FILE|URL")
	case looksSecret(*store):
		return usage("--store: the name looks like a key, not a file (not shown)")
	case nf.given() && storeEngine(*store) != "nats":
		return usage("--nats-* flags need a nats:// or tls:// --store")
	case (action == "stats" || action == "states") && (*dest != "" || len(ids) > 0 || *all):
		return usage("%s takes no --dest, --id or --all", action)
	case action == "list" && (len(ids) > 0 || *all):
		return usage("list takes --dest only")
	case action == "enable" && (*dest == "" || len(ids) > 0 || *all):
		return usage("enable takes --dest NAME only")
	case (action == "replay" || action == "purge") && countTrue(len(ids) > 0, *dest != "", *all) != 1:
		return usage("%s takes exactly one of --dest NAME, --id ID or --all", action)
	case *dest != "" && (outbox.DestinationState{Destination: *dest}).Validate() != nil:
		return usage("--dest: %s", (outbox.DestinationState{Destination: *dest}).Validate())
	case (action == "replay" || action == "purge") && sel.Validate() != nil:
		return usage("--id: %s", sel.Validate()) // the rest was checked above
	}
	ctx, stop := signalContext()
	defer stop()
	st, code := openOutbox(ctx, *store, action == "stats" || action == "list" || action == "states", &nf, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	out := &checkedWriter{w: stdout}
	if err := outboxAction(ctx, st, action, *dest, sel, out); err != nil {
		if ctx.Err() != nil {
			return outboxStopped(stderr)
		}
		return failure(stderr, "outbox", err)
	}
	if out.err != nil {
		// A list that was not saved must not pass for one that was.
		return failure(stderr, "outbox", fmt.Errorf("cannot write the answer: %w", out.err))
	}
	if err := st.Close(); err != nil {
		return failure(stderr, "outbox", err)
	}
	return exitOK
}

// countTrue returns how many of bs are true.
func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// outboxStopped reports on stderr that a signal stopped herald outbox
// before its action was done, and returns exitFail.
func outboxStopped(stderr io.Writer) int {
	fmt.Fprintln(stderr, "herald outbox: stopped by a signal before it finished")
	return exitFail
}

// checkedWriter keeps the first error of the writes to w, and writes
// nothing after it.
type checkedWriter struct {
	w   io.Writer
	err error
}

// Write writes p to w unless an earlier write failed.
func (c *checkedWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.err = err
	return n, err
}

// outboxAction runs one herald outbox action on st, writing what it found
// to stdout: stats and each dead letter as a JSON line, or how many dead
// letters were replayed or purged.
func outboxAction(ctx context.Context, st store, action, dest string, sel outbox.Selector, stdout io.Writer) error {
	switch action {
	case "stats":
		s, err := st.Stats(ctx)
		if err != nil {
			return err
		}
		b, err := wire.EscapedJSON(s)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	case "list":
		q := outbox.DeadLetterQuery{Destination: dest}
		for {
			page, err := st.DeadLetters(ctx, q)
			if err != nil {
				return err
			}
			for _, d := range page {
				d.Created, d.Due, d.At = d.Created.UTC(), d.Due.UTC(), d.At.UTC()
				b, err := wire.EscapedJSON(d)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s\n", b)
			}
			if len(page) < limits.List {
				return nil
			}
			q.After = &page[len(page)-1]
		}
	case "states":
		return printStates(ctx, st, stdout)
	case "enable":
		return enableDest(ctx, st, dest, stdout)
	case "replay", "purge":
		op, verb := st.Replay, "replayed"
		if action == "purge" {
			op, verb = st.Purge, "purged"
		}
		n, err := op(ctx, sel)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %d\n", verb, n)
	}
	return nil
}

// openOutbox opens the outbox file of herald outbox: read-only for the
// actions that only read (beside other readers; never beside a relay, which
// holds the file locked), and in every case only a file that is a herald
// outbox already. A missing, empty or foreign file is refused and left as
// it was: never made into an outbox. On failure it reports the error and
// returns a nil Store with the exit status: 2 when --store names no outbox
// file (missing, empty, a directory), 1 when it cannot be opened (locked,
// not an outbox, damaged) or ctx ended (a signal) first.
func openOutbox(ctx context.Context, spec string, readOnly bool, nf *natsFlags, stderr io.Writer) (store, int) {
	mode := storeExisting
	if readOnly {
		mode = storeReadOnly
	}
	st, err := openStore(ctx, spec, mode, nf)
	switch {
	case err == nil:
		return st, exitOK
	case ctx.Err() != nil:
		return nil, outboxStopped(stderr)
	case errors.Is(err, fs.ErrNotExist) && storeEngine(spec) == "bolt":
		return nil, usageErr(stderr, "outbox", "--store %s: no such file (herald outbox never creates one)", storeName(spec))
	case errors.Is(err, outbox.ErrNotFound):
		return nil, usageErr(stderr, "outbox", "--store %s: no herald outbox there (herald outbox never creates one; a relay does)", storeName(spec))
	case storeUsage(err, spec):
		return nil, usageErr(stderr, "outbox", "--store: %v", err)
	case errors.Is(err, errNoStream):
		return nil, usageErr(stderr, "outbox", "--store %s: %v", storeName(spec), err)
	}
	var ue usageError
	if errors.As(err, &ue) {
		return nil, usageErr(stderr, "outbox", "%v", err)
	}
	return nil, failure(stderr, "outbox", storeError(err, spec, mode))
}
