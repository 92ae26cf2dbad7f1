package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
)

// adminStore opens a boltstore file holding five dead letters (three of
// "a", two of "b", each with one attempt in its history and a secret-looking
// body) and one pending delivery, and serves it with AdminHandler under
// /outbox/, as a worker mounts it on its admin port.
func adminStore(t *testing.T) (outbox.Store, *httptest.Server) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	now := time.Now()
	var ds []outbox.Delivery
	for _, id := range []string{"a1", "a2", "a3", "b1", "b2", "live"} {
		ds = append(ds, outbox.Delivery{ID: id, Destination: id[:1], EventID: "evt-" + id, Topic: "job:done", Body: []byte(`{"secret":"BODY-` + id + `"}`), Due: now, Created: now})
	}
	ds[5].Destination = "a"
	if err := st.Put(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	ls, err := st.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != 6 {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	var ss []outbox.Settlement
	for _, l := range ls {
		s := outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.DeadLettered, Reason: "gone (410)",
			Attempt: outbox.AttemptRecord{At: now, Status: 410, Tries: 1, Error: "gone"}}
		if l.ID == "live" {
			s = outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Released}
		}
		ss = append(ss, s)
	}
	for _, err := range st.Settle(ctx, ss) {
		if err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/outbox/", http.StripPrefix("/outbox", outbox.AdminHandler(st)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return st, srv
}

// call makes a request and decodes the JSON answer into v (when not nil);
// it returns the status and the raw answer.
func call(t *testing.T, method, url, ctype, body string, v any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	if v != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s %s: %q: %v", method, url, raw, err)
		}
	}
	return res.StatusCode, string(raw)
}

type page struct {
	DeadLetters []map[string]any `json:"dead_letters"`
	Next        string           `json:"next"`
}

func TestAdminHandlerListsPagesAndCounts(t *testing.T) {
	_, srv := adminStore(t)
	base := srv.URL + "/outbox"

	var s map[string]int
	if code, raw := call(t, "GET", base+"/stats", "", "", &s); code != 200 || s["pending"] != 1 || s["dead"] != 5 || s["leased"] != 0 {
		t.Fatalf("stats: %d %s", code, raw)
	}

	var all []string
	url := base + "/dead-letters?limit=2"
	for range 5 {
		var p page
		code, raw := call(t, "GET", url, "", "", &p)
		if code != 200 {
			t.Fatalf("list: %d %s", code, raw)
		}
		if strings.Contains(raw, "BODY-") || strings.Contains(raw, "body") {
			t.Fatalf("a listing carries a body: %s", raw)
		}
		for _, d := range p.DeadLetters {
			all = append(all, fmt.Sprint(d["destination"], "/", d["id"]))
			if d["event_id"] != fmt.Sprint("evt-", d["id"]) {
				t.Errorf("dead letter %v: event_id %v", d["id"], d["event_id"])
			}
			for _, k := range []string{"id", "destination", "topic", "created", "attempts", "reason", "dead_at"} {
				if _, ok := d[k]; !ok {
					t.Errorf("dead letter %v lacks %q", d, k)
				}
			}
		}
		if p.Next == "" {
			break
		}
		url = base + "/dead-letters?limit=2&after=" + p.Next
	}
	if got := strings.Join(all, " "); got != "a/a1 a/a2 a/a3 b/b1 b/b2" {
		t.Errorf("paged listing = %s", got)
	}
	var p page
	if code, raw := call(t, "GET", base+"/dead-letters?destination=b", "", "", &p); code != 200 || len(p.DeadLetters) != 2 || p.Next != "" {
		t.Errorf("list of b: %d %s", code, raw)
	}
	var h map[string][]map[string]any
	if code, raw := call(t, "GET", base+"/history?id=a1", "", "", &h); code != 200 || len(h["attempts"]) != 1 || h["attempts"][0]["status"] != 410.0 {
		t.Errorf("history: %d %s", code, raw)
	}
}

func TestAdminHandlerReplaysAndPurges(t *testing.T) {
	st, srv := adminStore(t)
	base := srv.URL + "/outbox/dead-letters"
	var n map[string]int
	if code, raw := call(t, "POST", base+"/replay", "application/json", `{"ids":["a1","live","nope"]}`, &n); code != 200 || n["replayed"] != 1 {
		t.Fatalf("replay: %d %s", code, raw)
	}
	if code, raw := call(t, "POST", base+"/purge", "application/json; charset=utf-8", `{"destination":"b"}`, &n); code != 200 || n["purged"] != 2 {
		t.Fatalf("purge: %d %s", code, raw)
	}
	if s, err := st.Stats(ctx); err != nil || s.Pending != 2 || s.Dead != 2 {
		t.Fatalf("after replay and purge: %+v, %v", s, err)
	}
	if code, raw := call(t, "POST", base+"/purge", "application/json", `{"all":true}`, &n); code != 200 || n["purged"] != 2 {
		t.Fatalf("purge all: %d %s", code, raw)
	}
}

// TestAdminHandlerRefuses: bad requests get a 4xx and a JSON error that
// says what is wrong, and change nothing.
func TestAdminHandlerRefuses(t *testing.T) {
	st, srv := adminStore(t)
	base := srv.URL + "/outbox"
	for _, c := range []struct {
		method, path, ctype, body string
		code                      int
		want                      string
	}{
		{"POST", "/dead-letters/purge", "application/json", `{}`, 400, "empty selector"},
		{"POST", "/dead-letters/purge", "application/json", `{"all":true,"destination":"a"}`, 400, "set one of IDs, Destination or All"},
		{"POST", "/dead-letters/replay", "application/json", `{"destination":"a","ids":["b1"]}`, 400, "set one of IDs, Destination or All"},
		{"POST", "/dead-letters/purge", "application/json", `{"ids":["a1"],"all":true}`, 400, "set one of IDs, Destination or All"},
		{"POST", "/dead-letters/purge", "text/plain", `{"all":true}`, 415, "application/json"},
		{"POST", "/dead-letters/purge", "", `{"all":true}`, 415, "application/json"},
		{"POST", "/dead-letters/purge", "application/json", `{"all":tru`, 400, "truncated"},
		{"POST", "/dead-letters/purge", "application/json", `{"all":x}`, 400, "invalid JSON"},
		{"POST", "/dead-letters/purge", "application/json", `{"everything":true}`, 400, "unknown field"},
		{"POST", "/dead-letters/purge", "application/json", `{"all":"yes"}`, 400, "must be bool"},
		{"POST", "/dead-letters/purge", "application/json", `{"all":true} {"all":true}`, 400, "trailing data"},
		{"POST", "/dead-letters/purge", "application/json", ``, 400, "empty"},
		{"POST", "/dead-letters/replay", "application/json", `{"ids":["` + strings.Repeat("x", 70<<10) + `"]}`, 413, "larger than"},
		{"GET", "/dead-letters/purge", "", "", 405, "want POST"},
		{"POST", "/dead-letters", "application/json", `{"all":true}`, 405, "want GET"},
		{"GET", "/dead-letters?limit=0", "", "", 400, "limit"},
		{"GET", "/dead-letters?limit=1001", "", "", 400, "limit"},
		{"GET", "/dead-letters?limit=x", "", "", 400, "limit"},
		{"GET", "/dead-letters?after=!!!", "", "", 400, "cursor"},
		{"GET", "/dead-letters?after=YQ", "", "", 400, "cursor"},
		// Field names match exactly, once each: encoding/json alone
		// folds case (and ſ to s) and keeps the last of two, so a filter
		// in front of the handler would read another selector.
		{"POST", "/dead-letters/purge", "application/json", `{"all":false,"ALL":true}`, 400, `unknown field "ALL"`},
		{"POST", "/dead-letters/purge", "application/json", `{"destination":"zz","deſtination":"a"}`, 400, `unknown field "de\u017ftination"`},
		{"POST", "/dead-letters/purge", "application/json", `{"destination":"zz","destination":"a"}`, 400, `repeated field "destination"`},
		{"POST", "/dead-letters/replay", "application/json", `{"Ids":["a1"]}`, 400, `unknown field "Ids"`},
		{"POST", "/dead-letters/replay", "application/json", `{"` + strings.Repeat("y", 100) + `":1}`, 400, `unknown field "` + strings.Repeat("y", 64) + `"…`},
		// A query string that does not parse, a repeated, unknown or
		// empty parameter, must not widen a listing to every dead letter.
		{"GET", "/dead-letters?destination=%ZZ", "", "", 400, "malformed query"},
		{"GET", "/dead-letters?destination=semi;colon", "", "", 400, "malformed query"},
		{"GET", "/dead-letters?limit=1&after=YQBhMQ%", "", "", 400, "malformed query"},
		{"GET", "/dead-letters?destination=a&destination=b", "", "", 400, "given 2 times"},
		{"GET", "/dead-letters?destinaton=a", "", "", 400, `unknown parameter "destinaton"`},
		{"GET", "/dead-letters?destination=", "", "", 400, "empty destination name"},
		{"GET", "/dead-letters?destination=a%07", "", "", 400, "destination name"},
		{"GET", "/destinations?limit=%ZZ", "", "", 400, "malformed query"},
		{"GET", "/history?id=a1&id=a2", "", "", 400, "given 2 times"},
		// A cursor no page can have made: a destination that is not
		// UTF-8, an id with a NUL.
		{"GET", "/dead-letters?after=_wB4", "", "", 400, "cursor"},
		{"GET", "/dead-letters?after=YQB4AHk", "", "", 400, "cursor"},
		{"GET", "/destinations?after=_w", "", "", 400, "cursor"},
		{"GET", "/history", "", "", 400, "missing id"},
		{"GET", "/history?id=nope", "", "", 404, "not found"},
		{"GET", "/nope", "", "", 404, "no such path"},
	} {
		code, raw := call(t, c.method, base+c.path, c.ctype, c.body, nil)
		var e map[string]string
		if code != c.code || json.Unmarshal([]byte(raw), &e) != nil || !strings.Contains(e["error"], c.want) {
			t.Errorf("%s %s %q: %d %s; want %d and an error with %q", c.method, c.path, c.body, code, raw, c.code, c.want)
		}
	}
	if s, err := st.Stats(ctx); err != nil || s.Pending != 1 || s.Dead != 5 {
		t.Errorf("refused requests changed the outbox: %+v, %v", s, err)
	}
	st.Close()
	if code, raw := call(t, "GET", base+"/stats", "", "", nil); code != 503 || !strings.Contains(raw, "closed") {
		t.Errorf("stats of a closed outbox: %d %s", code, raw)
	}
}

// TestAdminHandlerAnswersNoBrowser: a web page must not reach the
// handler. A page on a domain re-pointed to the worker's loopback address
// (DNS rebinding) is same-origin to the browser, which then sends its
// fetches, with any Content-Type, and lets the page read the answers:
// purging the dead letters, or reading their ids and reasons. A browser
// marks its requests (Sec-Fetch-Site, Origin), tools do not: the marked
// ones are refused, and change nothing.
// TestAdminHandlerNil: AdminHandler(nil) panicked (a nil dereference) on
// every request but a browser's; it now answers 500 with an error.
func TestAdminHandlerNil(t *testing.T) {
	h := outbox.AdminHandler(nil)
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/stats", nil),
		httptest.NewRequest(http.MethodGet, "/dead-letters", nil),
		httptest.NewRequest(http.MethodPost, "/dead-letters/purge", strings.NewReader(`{"all":true}`)),
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"error"`) {
			t.Errorf("%s %s: %d %q, want 500 with an error", r.Method, r.URL.Path, w.Code, w.Body)
		}
	}
}

func TestAdminHandlerAnswersNoBrowser(t *testing.T) {
	st, srv := adminStore(t)
	base := srv.URL + "/outbox"
	for _, c := range []struct {
		method, path, body string
		header             [2]string
	}{
		{"POST", "/dead-letters/purge", `{"all":true}`, [2]string{"Sec-Fetch-Site", "same-origin"}},
		{"POST", "/dead-letters/replay", `{"all":true}`, [2]string{"Origin", "http://rebound.example:8081"}},
		{"GET", "/dead-letters", "", [2]string{"Sec-Fetch-Site", "same-origin"}},
		{"GET", "/stats", "", [2]string{"Sec-Fetch-Mode", "cors"}},
	} {
		req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(c.header[0], c.header[1])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden || !strings.Contains(string(raw), "browser") {
			t.Errorf("%s %s with %s: %d %s; want 403 saying it answers no browser", c.method, c.path, c.header[0], res.StatusCode, raw)
		}
	}
	if s, err := st.Stats(ctx); err != nil || s.Pending != 1 || s.Dead != 5 {
		t.Errorf("refused requests changed the outbox: %+v, %v", s, err)
	}
	if code, raw := call(t, "GET", base+"/stats", "", "", nil); code != 200 {
		t.Errorf("a tool's request: %d %s", code, raw)
	}
}

// TestAdminHandlerListsFarTimes: a dead letter due, created and attempted
// after the year 9999 is listed, and its history served, at the last time
// the stores keep, 2262. JSON has no later year: the memory store kept the
// time as given, and the listing failed whole (500, "cannot encode the
// answer"). farTimes, an Admin that gives such times back as a store
// written elsewhere might, is listed the same way.
func TestAdminHandlerListsFarTimes(t *testing.T) {
	far := time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)
	st := outbox.NewMemory()
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Put(ctx, outbox.Delivery{ID: "far", Destination: "a", Body: []byte("{}"), Due: far, Created: far}); err != nil {
		t.Fatal(err)
	}
	ls, err := st.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: far.AddDate(1, 0, 0)})
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	if err := errors.Join(st.Settle(ctx, []outbox.Settlement{{ID: "far", Token: ls[0].Token, Outcome: outbox.DeadLettered,
		Reason: "gone (410)", Attempt: outbox.AttemptRecord{At: far, Status: 410, Tries: 1}}})...); err != nil {
		t.Fatal(err)
	}
	for i, a := range []outbox.Admin{st.(outbox.Admin), farTimes{st.(outbox.Admin), far}} {
		srv := httptest.NewServer(outbox.AdminHandler(a))
		farFields := []string{"due", "created"}
		if i == 1 {
			farFields = append(farFields, "dead_at")
		}
		var p page
		if code, raw := call(t, "GET", srv.URL+"/dead-letters", "", "", &p); code != 200 || len(p.DeadLetters) != 1 {
			t.Errorf("%T: list: %d %s", a, code, raw)
		} else {
			for _, k := range farFields {
				if v := fmt.Sprint(p.DeadLetters[0][k]); !strings.HasPrefix(v, "2262-04-1") {
					t.Errorf("%T: dead letter %s %s; want the far time in 2262", a, k, v)
				}
			}
		}
		var h map[string][]map[string]any
		if code, raw := call(t, "GET", srv.URL+"/history?id=far", "", "", &h); code != 200 || len(h["attempts"]) != 1 || !strings.HasPrefix(fmt.Sprint(h["attempts"][0]["at"]), "2262-04-1") {
			t.Errorf("%T: history: %d %s", a, code, raw)
		}
		srv.Close()
	}
}

// farTimes is an Admin whose dead letters and history hold times after
// the year 9999, breaking the contract as a store written elsewhere might.
type farTimes struct {
	outbox.Admin
	far time.Time
}

func (f farTimes) DeadLetters(ctx context.Context, q outbox.DeadLetterQuery) ([]outbox.DeadLetter, error) {
	dls, err := f.Admin.DeadLetters(ctx, q)
	for i := range dls {
		dls[i].Due, dls[i].Created, dls[i].At = f.far, f.far, f.far
	}
	return dls, err
}

func (f farTimes) History(ctx context.Context, id string) ([]outbox.AttemptRecord, error) {
	h, err := f.Admin.History(ctx, id)
	for i := range h {
		h[i].At = f.far
	}
	return h, err
}

// TestAdminHandlerListsDestinations: GET /destinations lists the states a
// store records (failing, disabled), by name, escaped, with times JSON can
// encode even from an Admin written elsewhere; an Admin that keeps no
// states answers 404, and a POST 405.
func TestAdminHandlerListsDestinations(t *testing.T) {
	st, srv := adminStore(t)
	since := time.Unix(1700000000, 0).UTC()
	for _, s := range []outbox.DestinationState{
		{Destination: "z\u00e9", FailingSince: since, Reason: "500 from z"},
		{Destination: "a", FailingSince: since, Disabled: since.Add(time.Hour), Reason: "gone (410)"},
	} {
		if err := st.(outbox.DestinationStore).SetDestinationState(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	code, raw := call(t, "GET", srv.URL+"/outbox/destinations", "", "", nil)
	want := `{"destinations":[{"destination":"a","failing_since":"2023-11-14T22:13:20Z","disabled":"2023-11-14T23:13:20Z","reason":"gone (410)"},` +
		"{\"destination\":\"z\u00e9\",\"failing_since\":\"2023-11-14T22:13:20Z\",\"reason\":\"500 from z\"}]}"
	if code != 200 || strings.TrimSpace(raw) != want {
		t.Errorf("destinations: %d %s\nwant %s", code, raw, want)
	}
	if code, raw := call(t, "POST", srv.URL+"/outbox/destinations", "application/json", "{}", nil); code != 405 {
		t.Errorf("POST destinations: %d %s", code, raw)
	}

	// An Admin without destination states, and one with far times.
	mem := outbox.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	for _, tc := range []struct {
		a    outbox.Admin
		code int
		want string
	}{
		{adminOnly{mem.(outbox.Admin)}, 404, "keeps no destination states"},
		{farStates{mem.(outbox.Admin), time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}, 200, `"disabled":"2262-04-1`},
	} {
		srv := httptest.NewServer(outbox.AdminHandler(tc.a))
		if code, raw := call(t, "GET", srv.URL+"/destinations", "", "", nil); code != tc.code || !strings.Contains(raw, tc.want) {
			t.Errorf("%T: destinations: %d %s; want %d with %s", tc.a, code, raw, tc.code, tc.want)
		}
		srv.Close()
	}
}

// adminOnly is an Admin that keeps no destination states.
type adminOnly struct{ outbox.Admin }

// farStates is an Admin whose one destination state holds a time after
// the year 9999, breaking the contract as a store written elsewhere might.
type farStates struct {
	outbox.Admin
	far time.Time
}

func (f farStates) DestinationStates(context.Context) ([]outbox.DestinationState, error) {
	return []outbox.DestinationState{{Destination: "far", Disabled: f.far, Reason: "gone (410)"}}, nil
}

func (f farStates) SetDestinationState(context.Context, outbox.DestinationState) error { return nil }

// TestAdminHandlerEnablesDestination: POST /destinations/enable removes
// a destination's recorded state, as Queue.Enable does; a name the outbox
// has not recorded is enabled all the same (200, nothing changes). A
// request that is not a plain enable request, or names no destination
// could have, is refused with an error that says why without echoing the
// name, and changes nothing; an Admin that keeps no destination states
// answers 404, as GET /destinations does.
func TestAdminHandlerEnablesDestination(t *testing.T) {
	st, srv := adminStore(t)
	ds := st.(outbox.DestinationStore)
	base := srv.URL + "/outbox/destinations/enable"
	since := time.Unix(1700000000, 0).UTC()
	for _, s := range []outbox.DestinationState{
		{Destination: "a", FailingSince: since, Disabled: since, Reason: "gone (410)"},
		{Destination: "b", Disabled: since, Reason: "gone (410)"},
	} {
		if err := ds.SetDestinationState(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	var got map[string]string
	if code, raw := call(t, "POST", base, "application/json; charset=utf-8", `{"destination":"a"}`, &got); code != 200 || got["enabled"] != "a" {
		t.Fatalf("enable a: %d %s", code, raw)
	}
	if s, ok := stateOf(t, ds, "a"); ok {
		t.Errorf("a is still recorded after enable: %+v", s)
	}
	if code, raw := call(t, "POST", base, "application/json", `{"destination":"never-heard-of"}`, &got); code != 200 || got["enabled"] != "never-heard-of" {
		t.Errorf("enable an unknown destination: %d %s; want 200 as Queue.Enable", code, raw)
	}

	for _, c := range []struct {
		method, ctype, body string
		header              string
		code                int
		want                string
	}{
		{"POST", "application/json", `{"destination":""}`, "", 400, "empty destination name"},
		{"POST", "application/json", `{}`, "", 400, "empty destination name"},
		{"POST", "application/json", `null`, "", 400, "empty destination name"},
		{"POST", "application/json", `{"destination":"` + strings.Repeat("b", 257) + `"}`, "", 400, "longer than 256 bytes"},
		{"POST", "application/json", `{"destination":"b\u0000SECRET"}`, "", 400, "destination name holds a control character"},
		{"POST", "application/json", `{"destination":"b\nSECRET"}`, "", 400, "control character"},
		{"POST", "application/json", `{"destination":5}`, "", 400, `field "destination" must be string`},
		{"POST", "application/json", `{"destination":"b","all":true}`, "", 400, "unknown field \"all\" (want destination)"},
		{"POST", "application/json", `{"destination":"b"} {}`, "", 400, "trailing data"},
		{"POST", "application/json", `{"destination":"b`, "", 400, "truncated"},
		{"POST", "application/json", `{"destination":"` + strings.Repeat("b", 70<<10) + `"}`, "", 413, "larger than"},
		{"POST", "text/plain", `{"destination":"b"}`, "", 415, "application/json"},
		{"POST", "", `{"destination":"b"}`, "", 415, "application/json"},
		{"POST", "application/json", `{"destination":"b"}`, "Sec-Fetch-Site", 403, "browser"},
		{"POST", "application/json", `{"destination":"b"}`, "Origin", 403, "browser"},
		{"GET", "", "", "", 405, "want POST"},
	} {
		req, err := http.NewRequest(c.method, base, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if c.header != "" {
			req.Header.Set(c.header, "same-origin")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var e map[string]string
		if res.StatusCode != c.code || json.Unmarshal(raw, &e) != nil || !strings.Contains(e["error"], c.want) || strings.Contains(e["error"], "SECRET") {
			t.Errorf("%s %q: %d %s; want %d and an error with %q, without the name", c.method, c.body, res.StatusCode, raw, c.code, c.want)
		}
	}
	if s, ok := stateOf(t, ds, "b"); !ok || s.Disabled.IsZero() {
		t.Errorf("refused requests changed b's state: %+v, %v", s, ok)
	}

	// An Admin without destination states: the same 404 as GET /destinations.
	mem := outbox.NewMemory()
	t.Cleanup(func() { _ = mem.Close() })
	srv2 := httptest.NewServer(outbox.AdminHandler(adminOnly{mem.(outbox.Admin)}))
	defer srv2.Close()
	_, listed := call(t, "GET", srv2.URL+"/destinations", "", "", nil)
	if code, raw := call(t, "POST", srv2.URL+"/destinations/enable", "application/json", `{"destination":"a"}`, nil); code != 404 || raw != listed {
		t.Errorf("enable without destination states: %d %s; want 404 %s", code, raw, listed)
	}
}

// TestAdminHandlerEnableResumesQueue: a destination a running Queue
// disabled (a 410 from its receiver) over a bbolt file holds its
// deliveries; once the receiver is fixed, POST /destinations/enable to the
// handler on the same file resumes it in that Queue, which reads the
// states each poll, and every held delivery arrives. This is the way out
// while a worker holds the file, which the CLI cannot open then.
func TestAdminHandlerEnableResumesQueue(t *testing.T) {
	var d disabledLog
	rcv := d.receiver(t, http.StatusGone)
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	q := &outbox.Queue{
		Outbox: st, Sender: rcv.Sender(), PerDestination: 1, Workers: 2, Poll: 5 * time.Millisecond,
		Destinations: []sender.Destination{{Name: "gone", URL: rcv.URL()}},
		OnDisable:    d.onDisable,
		Logger:       slog.New(slog.NewTextHandler(&d, nil)),
	}
	q.Sender.Retry.MaxAttempts = 1
	enqueue(t, q, "gone", 5)
	queuetest.Run(t, q)
	queuetest.WaitFor(t, 10*time.Second, "OnDisable", func() bool { c, _ := d.get(); return len(c) > 0 })
	time.Sleep(50 * time.Millisecond) // ten polls: nothing more may go out
	if n := len(rcv.Deliveries()); n != 1 {
		t.Fatalf("the disabled destination got %d requests, want 1", n)
	}
	if s := stats(t, st); s.Pending != 5 || s.Dead != 0 {
		t.Fatalf("Stats %+v, want the 5 deliveries held", s)
	}

	d.healthy.Store(true)
	admin := httptest.NewServer(outbox.AdminHandler(st))
	defer admin.Close()
	var got map[string]string
	if code, raw := call(t, "POST", admin.URL+"/destinations/enable", "application/json", `{"destination":"gone"}`, &got); code != 200 || got["enabled"] != "gone" {
		t.Fatalf("enable: %d %s", code, raw)
	}
	if _, err := rcv.WaitFor(6, 10*time.Second); err != nil {
		t.Fatalf("enabling through the handler did not resume the Queue: %v", err)
	}
	queuetest.WaitFor(t, 10*time.Second, "the held deliveries", func() bool { return stats(t, st).Pending == 0 })
	if calls, _ := d.get(); len(calls) != 1 {
		t.Errorf("OnDisable calls %q, want the one for the 410", calls)
	}
}

// TestAdminHandlerAnswersUTC: every time the handler answers is in UTC,
// as GET /destinations and herald outbox list give them, whatever the
// host's zone: the listing and the history gave local times.
func TestAdminHandlerAnswersUTC(t *testing.T) {
	local := time.Local
	time.Local = time.FixedZone("east", 5*3600)
	t.Cleanup(func() { time.Local = local })
	_, srv := adminStore(t)
	base := srv.URL + "/outbox"
	for _, path := range []string{"/dead-letters?destination=a", "/history?id=a1"} {
		code, raw := call(t, "GET", base+path, "", "", nil)
		if code != 200 || !strings.Contains(raw, `Z"`) || strings.Contains(raw, "+05:00") {
			t.Errorf("GET %s: %d %s; want times in UTC", path, code, raw)
		}
	}
}
