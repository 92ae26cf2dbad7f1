package outbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/wire"
)

// maxAdminBody bounds the JSON body of a POST.
const maxAdminBody = 64 << 10

// errNoStates answers GET /destinations and POST /destinations/enable on
// an Admin that is not a [DestinationStore].
const errNoStates = "this outbox keeps no destination states"

// AdminHandler serves the dead letters, history, counts and destination
// states of an outbox over HTTP, as JSON, for people and tools while the
// worker runs:
//
//	GET  /stats                  {"pending":…,"leased":…,"dead":…}
//	GET  /dead-letters           {"dead_letters":[…],"next":"…"}
//	     ?destination=NAME       only that destination's
//	     &limit=N                at most N (1 to 1000, the default)
//	     &after=CURSOR           the page after the one whose "next" it was
//	GET  /history?id=ID          {"attempts":[…]}, the newest 64 at most
//	POST /dead-letters/replay    {"ids":[…]} or {"destination":…} or {"all":true}
//	                             → {"replayed":N}
//	POST /dead-letters/purge     the same selector → {"purged":N}
//	GET  /destinations           {"destinations":[…],"next":"…"}: the
//	                             destinations the outbox records as failing
//	                             or disabled (held until enabled), by name,
//	                             when it keeps destination states
//	                             ([DestinationStore])
//	     ?limit=N                at most N (1 to 1000, the default)
//	     &after=CURSOR           the page after the one whose "next" it was
//	POST /destinations/enable    {"destination":NAME} → {"enabled":NAME}
//	                             enables it, as [Queue.Enable] does, when
//	                             the outbox keeps destination states
//
// Enabling a disabled destination removes its recorded state, so every
// Queue on the outbox (this process's too) sends its held deliveries again
// within its poll interval, and counts its failures from scratch. As with
// Queue.Enable and herald outbox enable, a destination that is not
// disabled (only failing, or never recorded) is not an error: it is
// answered 200 as well, and nothing changes, its run of failures included
// (GET /destinations says which are disabled). An outbox that keeps no
// destination states answers 404 to both routes. An enable does not call back a request already in
// flight: if the destination answers one 410 Gone after its Queue has
// learnt of the enable, it is disabled again, though the enable was
// answered 200 (GET /destinations then says disabled, with the reason).
//
// A dead letter is listed with its delivery's fields (the event id among
// them, when the delivery came from an event) and reason, never its body;
// nothing it serves holds a URL or secret, since an outbox stores none. A
// POST needs Content-Type application/json (so that a browser form cannot
// forge one) and a body of at most 64 KiB; a selector must set one of
// ids, destination and all, not none and not several, and an enable
// request a destination name (1 to 256 bytes, no control characters).
// It refuses a field not listed here or given twice (names match exactly,
// not folding case as encoding/json does), a query parameter not listed
// here or given twice, a query string that does not parse (a bad escape,
// a raw semicolon) and an empty destination= filter, rather than read
// them as no filter and list everything. Times are in UTC. Every error is
// {"error":"…"} with a 4xx or 5xx status. Every character of an answer
// that is not printable (a control, line separator or bidi control, which
// a record stored by an earlier build may hold) is written as \uXXXX, so
// that it decodes to the stored text but cannot reorder or recolour the
// terminal that shows the answer. It answers tools, not
// browsers: a request a browser marks as its own (Origin, Sec-Fetch-Site or
// Sec-Fetch-Mode) is refused with 403, since a web page whose domain is
// re-pointed to the worker's address (DNS rebinding) is same-origin to
// the browser, which would let it purge dead letters or read the listing.
// The handler does no authentication: serve it on a worker's admin port,
// not to the internet, and wrap it in your own middleware where that port
// is shared. Mount it under a prefix with [http.StripPrefix]:
//
//	mux.Handle("/outbox/", http.StripPrefix("/outbox", outbox.AdminHandler(store)))
//
// A nil a answers every request 500.
func AdminHandler(a Admin) http.Handler {
	return adminHandler{a}
}

// adminHandler is the [AdminHandler].
type adminHandler struct{ a Admin }

// ServeHTTP routes a request by path and method.
func (h adminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.a == nil {
		writeError(w, http.StatusInternalServerError, "no outbox (AdminHandler was given nil)")
		return
	}
	if fromBrowser(r) {
		writeError(w, http.StatusForbidden, "this handler answers no browser")
		return
	}
	var get, post func(http.ResponseWriter, *http.Request)
	switch r.URL.Path {
	case "/stats":
		get = h.stats
	case "/dead-letters":
		get = h.list
	case "/history":
		get = h.history
	case "/destinations":
		get = h.destinations
	case "/dead-letters/replay":
		post = func(w http.ResponseWriter, r *http.Request) { h.change(w, r, h.a.Replay, "replayed") }
	case "/dead-letters/purge":
		post = func(w http.ResponseWriter, r *http.Request) { h.change(w, r, h.a.Purge, "purged") }
	case "/destinations/enable":
		post = h.enable
	default:
		writeError(w, http.StatusNotFound, "no such path")
		return
	}
	switch {
	case get != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		get(w, r)
	case post != nil && r.Method == http.MethodPost:
		post(w, r)
	case get != nil:
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed (want GET)")
	default:
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed (want POST)")
	}
}

// fromBrowser reports whether r carries a header that browsers add and
// a page's script cannot set or remove: Sec-Fetch-Site and Sec-Fetch-Mode
// (every current browser), Origin (every cross-origin request, and
// same-origin POSTs).
func fromBrowser(r *http.Request) bool {
	for _, k := range [...]string{"Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode"} {
		if _, ok := r.Header[k]; ok {
			return true
		}
	}
	return false
}

// stats serves GET /stats.
func (h adminHandler) stats(w http.ResponseWriter, r *http.Request) {
	s, err := h.a.Stats(r.Context())
	if err != nil {
		writeOutboxError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// deadLetterPage is the answer of GET /dead-letters.
type deadLetterPage struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
	// Next is the cursor of the next page, empty on the last one.
	Next string `json:"next,omitempty"`
}

// list serves GET /dead-letters.
func (h adminHandler) list(w http.ResponseWriter, r *http.Request) {
	v, ok := query(w, r, "destination", "limit", "after")
	if !ok {
		return
	}
	var q DeadLetterQuery
	if d, set := v["destination"]; set {
		// Given, it must name a destination: an empty or mistyped one
		// must not list them all.
		if err := checkName("destination name", d[0], limits.Name); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		q.Destination = d[0]
	}
	if q.Limit, ok = pageLimit(w, v); !ok {
		return
	}
	if s := v.Get("after"); s != "" {
		c, ok := parseCursor(s)
		if !ok {
			writeError(w, http.StatusBadRequest, "after must be the next cursor of a previous page")
			return
		}
		q.After = c
	}
	dls, err := h.a.DeadLetters(r.Context(), q)
	if err != nil {
		writeOutboxError(w, err)
		return
	}
	for i := range dls {
		// The stores keep times JSON can encode; an Admin written
		// elsewhere may not, and one such time would fail the page.
		// In UTC, as GET /destinations: not in the host's zone.
		d := &dls[i]
		d.Due, d.Created, d.At = wire.Kept(d.Due).UTC(), wire.Kept(d.Created).UTC(), wire.Kept(d.At).UTC()
	}
	page := deadLetterPage{DeadLetters: dls}
	if page.DeadLetters == nil {
		page.DeadLetters = []DeadLetter{}
	}
	if len(dls) == q.Limit {
		last := dls[len(dls)-1]
		page.Next = formatCursor(last.Destination, last.ID)
	}
	writeJSON(w, http.StatusOK, page)
}

// query parses the query string of r, which may hold the parameters
// allowed, each once. It answers a query string that does not parse (a
// bad escape, a semicolon), a parameter given twice and one not allowed,
// and reports whether there was none such: r.URL.Query drops the pairs it
// cannot parse, and a filter dropped, or misspelt, would list everything.
func query(w http.ResponseWriter, r *http.Request, allowed ...string) (url.Values, bool) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "malformed query string (escape ';', '%' and '&' in values)")
		return nil, false
	}
	for k, vs := range v {
		switch {
		case !slices.Contains(allowed, k):
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %s (want %s)", quoteName(k), strings.Join(allowed, ", ")))
			return nil, false
		case len(vs) > 1:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("parameter %s given %d times", k, len(vs)))
			return nil, false
		}
	}
	return v, true
}

// pageLimit returns the limit query parameter of a listing, limits.List
// when it is not set. It answers a limit out of 1 to limits.List and
// reports whether there was none such.
func pageLimit(w http.ResponseWriter, v url.Values) (int, bool) {
	s := v.Get("limit")
	if s == "" {
		return limits.List, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > limits.List {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit must be a number from 1 to %d", limits.List))
		return 0, false
	}
	return n, true
}

// history serves GET /history?id=ID.
func (h adminHandler) history(w http.ResponseWriter, r *http.Request) {
	v, ok := query(w, r, "id")
	if !ok {
		return
	}
	id := v.Get("id")
	if id == "" {
		writeError(w, http.StatusBadRequest, "missing id")
		return
	}
	// No delivery has an id that the id rule refuses; and a store may put
	// the id in a request of its own (a NATS subject, whose length the
	// server bounds by closing the connection), so it is not passed on.
	if err := wire.CheckID(id); err != nil {
		writeError(w, http.StatusBadRequest, "id: "+err.Error())
		return
	}
	as, err := h.a.History(r.Context(), id)
	if err != nil {
		writeOutboxError(w, err)
		return
	}
	if as == nil {
		as = []AttemptRecord{}
	}
	for i := range as {
		as[i] = keptAttempt(as[i]) // as the listing's times, in UTC
		as[i].At = as[i].At.UTC()
	}
	writeJSON(w, http.StatusOK, map[string][]AttemptRecord{"attempts": as})
}

// statesPage is the answer of GET /destinations.
type statesPage struct {
	Destinations []DestinationState `json:"destinations"`
	// Next is the cursor of the next page, empty on the last one.
	Next string `json:"next,omitempty"`
}

// destinations serves GET /destinations: a page of at most limit states,
// by name, after the cursor's name. The store reads them all (they are as
// many as the destinations, in practice), the answer holds a page.
func (h adminHandler) destinations(w http.ResponseWriter, r *http.Request) {
	ds, ok := h.states(w)
	if !ok {
		return
	}
	v, ok := query(w, r, "limit", "after")
	if !ok {
		return
	}
	limit, ok := pageLimit(w, v)
	if !ok {
		return
	}
	after, ok := "", true
	if s := v.Get("after"); s != "" {
		if after, ok = parseNameCursor(s); !ok {
			writeError(w, http.StatusBadRequest, "after must be the next cursor of a previous page")
			return
		}
	}
	states, err := ds.DestinationStates(r.Context())
	if err != nil {
		writeOutboxError(w, err)
		return
	}
	for i := range states {
		// As the listing's times, in UTC: an Admin written elsewhere
		// may hold one JSON cannot encode, which would fail the whole
		// answer.
		s := &states[i]
		s.FailingSince, s.Disabled = wire.Kept(s.FailingSince).UTC(), wire.Kept(s.Disabled).UTC()
	}
	slices.SortFunc(states, func(a, b DestinationState) int { return strings.Compare(a.Destination, b.Destination) })
	first, _ := slices.BinarySearchFunc(states, after, func(s DestinationState, name string) int {
		if s.Destination <= name {
			return -1
		}
		return 1
	})
	page := statesPage{Destinations: states[first:]}
	if len(page.Destinations) > limit {
		page.Destinations = page.Destinations[:limit]
		page.Next = base64.RawURLEncoding.EncodeToString([]byte(page.Destinations[limit-1].Destination))
	}
	if page.Destinations == nil {
		page.Destinations = []DestinationState{}
	}
	writeJSON(w, http.StatusOK, page)
}

// parseNameCursor decodes the next cursor of a page of GET /destinations,
// a destination name.
func parseNameCursor(s string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err == nil && cursorPart(string(b))
}

// change serves a POST of a selector to replay or purge dead letters.
func (h adminHandler) change(w http.ResponseWriter, r *http.Request, op func(context.Context, Selector) (int, error), verb string) {
	var s Selector
	if !decodeBody(w, r, &s, "a selector", "ids", "destination", "all") {
		return
	}
	n, err := op(r.Context(), s)
	if err != nil {
		writeOutboxError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{verb: n})
}

// states returns the Admin as a DestinationStore, or answers 404 and
// reports false when it keeps no destination states.
func (h adminHandler) states(w http.ResponseWriter) (DestinationStore, bool) {
	ds, ok := h.a.(DestinationStore)
	if !ok {
		writeError(w, http.StatusNotFound, errNoStates)
	}
	return ds, ok
}

// enableRequest is the body of POST /destinations/enable.
type enableRequest struct {
	Destination string `json:"destination"`
}

// enable serves POST /destinations/enable: it removes the destination's
// recorded state when that says disabled, as [Queue.Enable] does, so that
// every Queue on the outbox resumes it within a poll interval.
func (h adminHandler) enable(w http.ResponseWriter, r *http.Request) {
	ds, ok := h.states(w)
	if !ok {
		return
	}
	var e enableRequest
	if !decodeBody(w, r, &e, "an enable request", "destination") {
		return
	}
	// A store may put the name in a request of its own (a NATS subject,
	// a key), so a name no destination can have is not passed on.
	s := DestinationState{Destination: e.Destination}
	if err := s.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := enableState(r.Context(), ds, s.Destination, false); err != nil {
		writeOutboxError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"enabled": e.Destination})
}

// decodeBody decodes the JSON body of a POST, an object whose fields are
// only those named, each at most once, into v, what it is. It answers a
// request it cannot decode (wrong Content-Type, too large, not JSON, an
// unknown or repeated field, trailing data) and reports whether v was
// decoded. Field names are matched exactly: encoding/json alone would
// take "ALL" or "deſtination" for a field, and the last of two, so that a
// filter in front of the handler could read another selector than it.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, what string, fields ...string) bool {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err == nil {
		err = checkFields(body, fields)
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err = dec.Decode(v); err == nil {
			if _, terr := dec.Token(); terr != io.EOF {
				err = errTrailing
			}
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxAdminBody))
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "body is not "+what+": "+jsonProblem(err, strings.Join(fields, ", ")))
		return false
	}
	return true
}

// checkFields reports a JSON object in body with a field not among fields,
// compared byte for byte, or the same field twice. What is not an object,
// or not JSON, it leaves to the decoder to describe.
func checkFields(body []byte, fields []string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	seen := make([]bool, len(fields))
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		name, _ := t.(string)
		i := slices.Index(fields, name)
		switch {
		case i < 0:
			return fmt.Errorf("%w %s", errUnknownField, quoteName(name))
		case seen[i]:
			return fmt.Errorf("%w %s", errRepeatedField, quoteName(name))
		}
		seen[i] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// quoteName quotes a field or parameter name a client sent, for an error:
// in ASCII, and cut after 64 bytes, as it may be as long as the body.
func quoteName(s string) string {
	if len(s) > 64 {
		return strconv.QuoteToASCII(s[:64]) + "…"
	}
	return strconv.QuoteToASCII(s)
}

// The errors of checkFields.
var (
	errUnknownField  = errors.New("unknown field")
	errRepeatedField = errors.New("repeated field")
)

// jsonProblem describes a JSON decoding error without quoting the body;
// fields lists the fields allowed.
func jsonProblem(err error, fields string) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s", typ.Field, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated body"
	case errors.Is(err, errUnknownField):
		return err.Error() + " (want " + fields + ")"
	case errors.Is(err, errRepeatedField), errors.Is(err, errTrailing):
		return err.Error()
	}
	return "unreadable JSON"
}

// errTrailing: a body's JSON value is followed by more data.
var errTrailing = errors.New("trailing data after the JSON value")

// formatCursor encodes a listing position as an opaque token.
func formatCursor(dest, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(dest + "\x00" + id))
}

// parseCursor decodes a token of formatCursor. It refuses one that no page
// can have made (see cursorPart), so that every store answers it alike.
func parseCursor(s string) (*DeadLetter, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	dest, id, ok := strings.Cut(string(b), "\x00")
	ok = ok && cursorPart(dest) && cursorPart(id)
	return &DeadLetter{Delivery: Delivery{Destination: dest, ID: id}}, ok
}

// cursorPart reports whether a destination name or id read from a cursor
// could be one a store holds: 1 to 256 bytes of UTF-8 without NUL. The
// rule is looser than the one for new names, so that a page can end on a
// record an earlier build stored; pgstore refuses the rest itself.
func cursorPart(s string) bool {
	return s != "" && len(s) <= limits.Name && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// writeOutboxError answers an error of the outbox with the status its
// kind calls for. Errors of an outbox never hold a body or a secret; an
// unexpected one is not quoted all the same, as it may come from a
// library below the store.
func writeOutboxError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrClosed):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "outbox: request cancelled")
	case errors.Is(err, ErrCorrupt):
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "outbox: the store failed")
	}
}

// writeError answers {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeJSON answers v as JSON with status, every character that is not
// printable escaped (wire.EscapedJSON): a record stored before the text
// rule may hold a bidi or C1 control, which a terminal running curl would
// act on.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := wire.EscapedJSON(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"outbox: cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
