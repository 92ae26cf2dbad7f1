package outbox_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
)

// TestAdminHandlerEscapesOldText: a bbolt file written by an earlier
// build holds a dead letter whose topic, event id, content type, reason
// and attempt error, and a destination state whose reason, carry what the
// text rule now refuses (a bidi override, an isolate, a line separator, a
// C1 control). The handler's answers hold none of them raw (a terminal
// running curl would reorder or act on them), and decode to the stored
// text all the same.
func TestAdminHandlerEscapesOldText(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	now := time.Now()
	old := outbox.Delivery{ID: "old-1", Destination: "a", Topic: "job:re\u202eady", EventID: "evt\u2066x\u2069\u2028",
		ContentType: "application/json; x=\u0085", Body: []byte(`{}`), Created: now, Due: now}
	const reason, attemptErr, stateReason = "rejected: 400 \u202eyako", "status \u009b2J\u200f", "gone \u2067(410)\u2069\u061c"
	if err := st.Put(ctx, old); err != nil {
		t.Fatalf("Put of an earlier build's delivery: %v", err)
	}
	ls, err := st.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: now})
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	for _, err := range st.Settle(ctx, []outbox.Settlement{{ID: old.ID, Token: ls[0].Token, Outcome: outbox.DeadLettered,
		Reason: reason, Attempt: outbox.AttemptRecord{At: now, Status: 400, Tries: 1, Error: attemptErr}}}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	ds := st.(outbox.DestinationStore)
	if err := ds.SetDestinationState(ctx, outbox.DestinationState{Destination: "a", Disabled: now, Reason: stateReason}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(outbox.AdminHandler(st))
	t.Cleanup(srv.Close)

	var dead struct {
		DeadLetters []outbox.DeadLetter `json:"dead_letters"`
	}
	getShown(t, srv.URL+"/dead-letters", &dead)
	if len(dead.DeadLetters) != 1 {
		t.Fatalf("dead letters %+v, want old-1", dead.DeadLetters)
	}
	d := dead.DeadLetters[0]
	if d.Topic != old.Topic || d.EventID != old.EventID || d.ContentType != old.ContentType || d.Reason != reason {
		t.Errorf("dead letter decodes to %q %q %q %q", d.Topic, d.EventID, d.ContentType, d.Reason)
	}
	var hist struct {
		Attempts []outbox.AttemptRecord `json:"attempts"`
	}
	getShown(t, srv.URL+"/history?id=old-1", &hist)
	if len(hist.Attempts) != 1 || hist.Attempts[0].Error != attemptErr {
		t.Errorf("history decodes to %+v", hist.Attempts)
	}
	var states struct {
		Destinations []outbox.DestinationState `json:"destinations"`
	}
	getShown(t, srv.URL+"/destinations", &states)
	if len(states.Destinations) != 1 || states.Destinations[0].Reason != stateReason {
		t.Errorf("destinations decode to %+v", states.Destinations)
	}
}

// getShown GETs url, checks that the answer holds no rune the text rule
// refuses, and decodes it into v.
func getShown(t *testing.T, url string, v any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", url, res.StatusCode, err)
	}
	for i, r := range string(raw) {
		if !wire.DisplayableRune(r) || r == utf8.RuneError {
			t.Errorf("GET %s: %U raw at byte %d of %q", url, r, i, raw)
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s: %q: %v", url, raw, err)
	}
}
