package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/topic"
)

// ErrUnhandled: no handler matched the event, reported only when the
// listener was built with [WithRequireHandler]. It is always [Permanent].
var ErrUnhandled = errors.New("listener: no handler for event")

// ErrPanic: a handler panicked; the error carries the panic value, the
// stack goes to the log.
var ErrPanic = errors.New("listener: handler panicked")

// A Handler handles one event. A nil error acknowledges it; an error makes
// the source ask for redelivery, unless it is [Permanent].
type Handler func(ctx context.Context, ev *Event) error

// A Middleware wraps a Handler, to add behaviour around it (see [Recover],
// [Timeout], [Retry], [Logging]).
type Middleware func(Handler) Handler

// A Listener routes events to the handlers registered on it. The zero value
// is ready to use with the defaults; [New] sets options. Registration (On,
// Use, Namespace) and dispatch are safe for concurrent use. A Listener must
// not be copied after first use.
type Listener struct {
	r      *router // shared with children; nil for a zero-value root (use own)
	own    router
	parent *Listener
	ns     string
	err    error        // deferred error from Namespace, reported by On
	mws    []Middleware // guarded by router.mu
}

// router is the state a listener shares with its children.
type router struct {
	mu     sync.Mutex
	cfg    config
	routes []*route
	snap   atomic.Pointer[table] // nil after a change: rebuilt on next dispatch
	dedupe *dedupe
	log    *slog.Logger
	inited bool
	// tel is resolved once from cfg by telemetry(); nil when off.
	telOnce sync.Once
	tel     *listenerTelemetry
}

// route is one registration.
type route struct {
	src    string // the pattern as given, for logs and errors
	pat    topic.Pattern
	filter Filter
	owner  *Listener
	h      Handler
	check  *payloadCheck // the payload type Handle declared; nil for On
}

// entry is a route as dispatch sees it: namespaces and middleware resolved.
type entry struct {
	seq    int
	src    string
	pat    *topic.Pattern
	ns     []string
	filter Filter
	h      Handler
	check  *payloadCheck
}

// table indexes entries so that dispatch looks at few of them: by exact
// topic, by literal domain, by literal action, and the rest. Each list is in
// registration order.
type table struct {
	exact    map[string][]entry
	byDomain map[string][]entry
	byAction map[string][]entry
	wild     []entry
}

// New returns a Listener configured by opts.
func New(opts ...Option) *Listener {
	l := &Listener{}
	r := &l.own
	for _, o := range opts {
		if o != nil {
			o(&r.cfg)
		}
	}
	r.init()
	return l
}

// init fills the defaults; callers hold mu or own the router exclusively.
func (r *router) init() {
	if r.inited {
		return
	}
	r.inited = true
	if r.cfg.now == nil {
		r.cfg.now = time.Now
	}
	if r.cfg.concurrency <= 0 {
		r.cfg.concurrency = defaultConcurrency
	}
	if r.cfg.drainTimeout <= 0 {
		r.cfg.drainTimeout = defaultDrainTimeout
	}
	r.log = r.cfg.logger
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.cfg.dedupeSize > 0 {
		r.dedupe = newDedupe(r.cfg.dedupeWindow, r.cfg.dedupeSize, r.cfg.now)
	}
}

// loggerOf returns the logger of the listener behind d (see [WithLogger]),
// where the HTTP and poll sources log what they refuse or fail to fetch;
// a Dispatcher that is not a listener logs nothing.
func loggerOf(d Dispatcher) *slog.Logger {
	var l *Listener
	switch d := d.(type) {
	case *Listener:
		l = d
	case *gate:
		l = d.l
	}
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	r := l.router()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	return r.log
}

func (l *Listener) router() *router {
	if l.r != nil {
		return l.r
	}
	return &l.own
}

// On registers h for the events whose topic matches pattern and that every
// filter accepts. A pattern is "domain:action" where either segment may hold
// '*' wildcards ("job:*", "*:created", "job:re*"), or "**" for every topic:
// the grammar of sender.ValidatePattern, the one destination filters and the
// relay use too. A malformed pattern (an error matching
// sender.ErrInvalidPattern) or a nil handler is an error here, never at
// dispatch.
func (l *Listener) On(pattern string, h Handler, filters ...Filter) error {
	return l.on(pattern, h, nil, filters)
}

// on registers a route, with the payload check of Handle when check is set.
func (l *Listener) on(pattern string, h Handler, check *payloadCheck, filters []Filter) error {
	if l.err != nil {
		return l.err
	}
	if h == nil {
		return fmt.Errorf("%w for pattern %.64q", errNilHandler, pattern)
	}
	p, err := topic.Parse(pattern)
	if err != nil {
		return fmt.Errorf("listener: %w", err)
	}
	var f Filter
	switch fs := compact(filters); len(fs) {
	case 0:
	case 1:
		f = fs[0]
	default:
		f = allOf(fs...)
	}
	r := l.router()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	r.routes = append(r.routes, &route{src: pattern, pat: p, filter: f, owner: l, h: h, check: check})
	r.snap.Store(nil)
	return nil
}

// Use adds middleware around every handler of this listener and of its
// children, whenever they were registered. Middleware added first runs
// outermost; a parent's middleware runs outside its children's.
func (l *Listener) Use(mw ...Middleware) {
	r := l.router()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range mw {
		if m != nil {
			l.mws = append(l.mws, m)
		}
	}
	r.snap.Store(nil)
}

// Namespace returns a child listener whose handlers only see events that
// list name in [Event.Namespaces] (and, for a child of a child, every
// namespace on the way). The child shares its parent's configuration and
// middleware. An empty name makes the child's On fail.
func (l *Listener) Namespace(name string) *Listener {
	c := &Listener{r: l.router(), parent: l, ns: name, err: l.err}
	if name == "" && c.err == nil {
		c.err = fmt.Errorf("listener: empty namespace")
	}
	return c
}

// table returns the current dispatch table, rebuilding it after a change.
func (r *router) table() *table {
	if t := r.snap.Load(); t != nil {
		return t
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.init()
	if t := r.snap.Load(); t != nil {
		return t
	}
	t := &table{
		exact:    map[string][]entry{},
		byDomain: map[string][]entry{},
		byAction: map[string][]entry{},
	}
	for i, rt := range r.routes {
		e := entry{seq: i, src: rt.src, pat: &rt.pat, filter: rt.filter, h: rt.h, check: rt.check}
		var chain [][]Middleware
		for o := rt.owner; o != nil; o = o.parent {
			if o.parent != nil {
				e.ns = append(e.ns, o.ns)
			}
			chain = append(chain, o.mws)
		}
		// chain runs leaf to root; wrap innermost (leaf, last added) first.
		for _, mws := range chain {
			for k := len(mws) - 1; k >= 0; k-- {
				if h := mws[k](e.h); h != nil {
					e.h = h
				}
			}
		}
		p := &rt.pat
		dom, litDom := p.Domain.Literal()
		act, litAct := p.Action.Literal()
		switch {
		case p.All:
			t.wild = append(t.wild, e)
		case litDom && litAct:
			t.exact[rt.src] = append(t.exact[rt.src], e)
		case litDom:
			t.byDomain[dom] = append(t.byDomain[dom], e)
		case litAct:
			t.byAction[act] = append(t.byAction[act], e)
		default:
			t.wild = append(t.wild, e)
		}
	}
	r.snap.Store(t)
	return t
}

// filterCopies holds the copies of events that filters see (see
// dispatch).
var filterCopies = sync.Pool{New: func() any { return new(Event) }}

// dispatch is Dispatch without its telemetry.
func (l *Listener) dispatch(ctx context.Context, ev *Event) error {
	if ev == nil {
		return Permanent(fmt.Errorf("%w: nil event", ErrInvalidEvent))
	}
	if err := validateID(ev.ID); err != nil {
		// A source that skipped Validate must not fill the dedupe
		// window with ids of megabytes.
		return Permanent(err)
	}
	name := ev.Topic
	dom, act, ok := topic.Split(name)
	if !ok {
		return Permanent(validateTopic(name))
	}
	r := l.router()
	t := r.table()
	var key dedupeKey // made once: a source is hashed
	if r.dedupe != nil {
		if key = dedupeKeyOf(name, ev); r.dedupe.seen(key) {
			return nil
		}
	}
	var buf [32]*entry
	cands, err := r.selectEntries(t.candidates(buf[:0], name, dom, act), ev)
	if err != nil {
		return err
	}
	ctx, err = r.checkPayloads(ctx, cands, ev)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range cands {
		if err := r.run(ctx, e, ev); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case errs != nil:
		return joinHandlerErrors(errs)
	case len(cands) == 0 && r.cfg.requireHandler:
		return Permanent(fmt.Errorf("%w: topic %q", ErrUnhandled, name))
	}
	if r.dedupe != nil {
		r.dedupe.add(key)
	}
	return nil
}

// selectEntries keeps, of cands, the entries whose namespaces and filters
// accept ev, and returns them. It fails when a filter found the payload
// ambiguous (Field: a key twice, or in another case), permanently, and
// when a filter panicked, retryably: which routes apply, and so which
// payload checks must pass before any handler runs, is then unknown.
func (r *router) selectEntries(cands []*entry, ev *Event) ([]*entry, error) {
	var errs []error
	n := 0
	// Filters see a copy of the event, this dispatch's own, on which a
	// Field notes a payload it found ambiguous: on the caller's event, a
	// concurrent Dispatch of it could clear the note. The copies are
	// pooled: one per dispatch cost a filtered route an allocation.
	var fev *Event
	for _, e := range cands {
		target := ev
		if e.filter != nil {
			if fev == nil {
				fev = filterCopies.Get().(*Event)
				*fev = *ev
				fev.refused = nil
			}
			target = fev
		}
		ok, err := r.accepts(e, target)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			cands[n] = e
			n++
		}
	}
	if fev != nil {
		refused := fev.refused
		*fev = Event{}
		filterCopies.Put(fev)
		if refused != nil {
			return nil, Permanent(fmt.Errorf("%w: %w", ErrInvalidPayload, refused))
		}
	}
	if errs != nil {
		return nil, joinHandlerErrors(errs)
	}
	return cands[:n], nil
}

// candidates appends to cands the entries whose pattern matches the topic
// name (domain dom, action act), in registration order. The caller's
// buffer lives on its stack; only an event matching more than its capacity
// makes append allocate.
func (t *table) candidates(cands []*entry, name, dom, act string) []*entry {
	if es := t.exact[name]; len(es) > 0 {
		for i := range es {
			cands = append(cands, &es[i])
		}
	}
	if es := t.byDomain[dom]; len(es) > 0 {
		for i := range es {
			if es[i].pat.Action.Match(act) {
				cands = append(cands, &es[i])
			}
		}
	}
	if es := t.byAction[act]; len(es) > 0 {
		for i := range es {
			if es[i].pat.Domain.Match(dom) {
				cands = append(cands, &es[i])
			}
		}
	}
	for i := range t.wild {
		e := &t.wild[i]
		if e.pat.All || e.pat.Domain.Match(dom) && e.pat.Action.Match(act) {
			cands = append(cands, e)
		}
	}
	sortBySeq(cands)
	return cands
}

// checkPayloads decodes and validates ev's payload into the type of each
// entry that declares one, once per type. It returns ctx carrying the
// values for the typed handlers, or the first [ErrInvalidPayload] error.
func (r *router) checkPayloads(ctx context.Context, es []*entry, ev *Event) (context.Context, error) {
	var p *payloads
	for _, e := range es {
		if e.check == nil || p != nil && decodedIn(p, e.check.t) {
			continue
		}
		v, err := r.decode(e, ev)
		if err != nil {
			return ctx, err
		}
		if p == nil {
			p = &payloads{ev: ev}
		}
		p.vals = append(p.vals, typedValue{t: e.check.t, v: v})
	}
	if p == nil {
		return ctx, nil
	}
	return context.WithValue(ctx, payloadsKey{}, p), nil
}

func decodedIn(p *payloads, t reflect.Type) bool {
	for _, tv := range p.vals {
		if tv.t == t {
			return true
		}
	}
	return false
}

// decode runs e's payload check, turning a panic in Validate into an error
// matching ErrPanic.
func (r *router) decode(e *entry, ev *Event) (v any, err error) {
	defer r.recoverPanic(e, ev, &err)
	return e.check.decode(ev)
}

// sortBySeq puts entries in registration order: an insertion sort, since
// the lists are short and each index list is already in order.
func sortBySeq(es []*entry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].seq < es[j-1].seq; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// accepts reports whether e's namespaces and filter accept ev. A panic in
// the filter is an error matching ErrPanic.
func (r *router) accepts(e *entry, ev *Event) (bool, error) {
	for _, ns := range e.ns {
		if !ev.inNamespace(ns) {
			return false, nil
		}
	}
	if e.filter == nil {
		return true, nil
	}
	return r.filter(e, ev)
}

func (r *router) filter(e *entry, ev *Event) (ok bool, err error) {
	defer r.recoverPanic(e, ev, &err)
	return e.filter(ev), nil
}

// run calls e's handler, turning a panic into an error matching ErrPanic.
func (r *router) run(ctx context.Context, e *entry, ev *Event) (err error) {
	defer r.recoverPanic(e, ev, &err)
	return e.h(ctx, ev)
}

// recoverPanic, deferred, turns a panic into *err, logged with its stack.
func (r *router) recoverPanic(e *entry, ev *Event, err *error) {
	if p := recover(); p != nil {
		r.log.Error("listener: handler panicked",
			"event", ev.ID, "topic", ev.Topic, "pattern", e.src,
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		*err = fmt.Errorf("%w: %v (pattern %q)", ErrPanic, p, e.src)
	}
}
