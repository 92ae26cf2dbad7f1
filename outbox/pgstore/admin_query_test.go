package pgstore_test

import (
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldhq/herald/outbox"
)

// TestAdminOddText: a dead-letter listing filtered by a destination that
// holds a NUL or invalid UTF-8 is empty, as on the other stores, a
// listing resumed after such a destination or id is refused with
// ErrInvalid, and the history of such an id is ErrNotFound. PostgreSQL
// refuses NUL and invalid UTF-8 in a text parameter: all three failed
// with its error, which AdminHandler answered 500 "the store failed" (and
// herald outbox printed). AdminHandler now refuses all five requests
// itself, with 400, as it does over every store.
func TestAdminOddText(t *testing.T) {
	ob := open(t, newPool(t), nil)
	ad := ob.(outbox.Admin)
	srv := httptest.NewServer(outbox.AdminHandler(ad))
	defer srv.Close()
	cursor := func(dest, id string) string { return base64.RawURLEncoding.EncodeToString([]byte(dest + "\x00" + id)) }
	after := func(dest, id string) *outbox.DeadLetter {
		return &outbox.DeadLetter{Delivery: outbox.Delivery{Destination: dest, ID: id}}
	}
	for _, c := range []struct {
		q       url.Values
		query   outbox.DeadLetterQuery
		invalid bool
	}{
		{url.Values{"destination": {"a\x00b"}}, outbox.DeadLetterQuery{Destination: "a\x00b"}, false},
		{url.Values{"destination": {"a\xffb"}}, outbox.DeadLetterQuery{Destination: "a\xffb"}, false},
		{url.Values{"after": {cursor("a\xff", "x")}}, outbox.DeadLetterQuery{After: after("a\xff", "x")}, true},
		{url.Values{"after": {cursor("a", "x\x00y")}}, outbox.DeadLetterQuery{After: after("a", "x\x00y")}, true},
		{url.Values{"after": {cursor("a", "x\xff")}}, outbox.DeadLetterQuery{After: after("a", "x\xff")}, true},
	} {
		dls, err := ad.DeadLetters(ctx, c.query)
		if c.invalid && (!errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), "not UTF-8 without NULs")) {
			t.Errorf("DeadLetters(%+v) = %v, want ErrInvalid, not UTF-8 without NULs", c.query, err)
		}
		if !c.invalid && (err != nil || len(dls) != 0) {
			t.Errorf("DeadLetters(%+v) = %v, %v, want none", c.query, dls, err)
		}
		res, err := http.Get(srv.URL + "/dead-letters?" + c.q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 {
			t.Errorf("GET /dead-letters?%s: %d %s, want 400", c.q.Encode(), res.StatusCode, body)
		}
	}
	for _, id := range []string{"a\x00b", "a\xffb"} {
		if _, err := ad.History(ctx, id); !errors.Is(err, outbox.ErrNotFound) {
			t.Errorf("History(%+q) = %v, want ErrNotFound", id, err)
		}
	}
}
