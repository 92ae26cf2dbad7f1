package outbox_test

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
)

// statesPage is the answer of GET /destinations.
type statesPage struct {
	Destinations []outbox.DestinationState `json:"destinations"`
	Next         string                    `json:"next"`
}

// TestAdminHandlerPagesDestinations: GET /destinations answers at most
// limit states (1 to 1000, the default), by name, with a next cursor
// while more remain, as GET /dead-letters pages; a store shared with other
// tools may hold thousands, and one answer held them all.
func TestAdminHandlerPagesDestinations(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ds := st.(outbox.DestinationStore)
	const n = 1003
	now := time.Now()
	for i := range n {
		if err := ds.SetDestinationState(ctx, outbox.DestinationState{Destination: fmt.Sprintf("d%04d", i), Disabled: now, Reason: "gone (410)"}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(outbox.AdminHandler(st))
	t.Cleanup(srv.Close)

	var p statesPage
	if code, raw := call(t, "GET", srv.URL+"/destinations", "", "", &p); code != 200 || len(p.Destinations) != 1000 || p.Next == "" {
		t.Fatalf("default page: %d, %d states, next %q: %.200s", code, len(p.Destinations), p.Next, raw)
	}
	var names []string
	for url := srv.URL + "/destinations?limit=400"; ; {
		var p statesPage
		if code, raw := call(t, "GET", url, "", "", &p); code != 200 || len(p.Destinations) > 400 {
			t.Fatalf("GET %s: %d, %d states: %.200s", url, code, len(p.Destinations), raw)
		}
		for _, s := range p.Destinations {
			names = append(names, s.Destination)
		}
		if p.Next == "" {
			break
		}
		url = srv.URL + "/destinations?limit=400&after=" + p.Next
	}
	if len(names) != n || names[0] != "d0000" || names[n-1] != fmt.Sprintf("d%04d", n-1) {
		t.Fatalf("pages hold %d states, %v … %v", len(names), names[:1], names[len(names)-1:])
	}
	for i := 1; i < len(names); i++ {
		if names[i] <= names[i-1] {
			t.Fatalf("pages list %q after %q", names[i], names[i-1])
		}
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "after=%25%25", "after="} {
		if code, raw := call(t, "GET", srv.URL+"/destinations?"+q, "", "", nil); code != 400 && !(q == "after=" && code == 200) {
			t.Errorf("GET /destinations?%s: %d %s", q, code, raw)
		}
	}
}
