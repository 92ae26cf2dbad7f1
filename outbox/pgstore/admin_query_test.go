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
// ErrInvalid (400 from AdminHandler), and the history of such an id is
// ErrNotFound. PostgreSQL refuses NUL and invalid UTF-8 in a text
// parameter: all three failed with its error, which AdminHandler
// answered 500 "the store failed" (and herald outbox printed).
func TestAdminOddText(t *testing.T) {
	ob := open(t, newPool(t), nil)
	ad := ob.(outbox.Admin)
	srv := httptest.NewServer(outbox.AdminHandler(ad))
	defer srv.Close()
	cursor := func(dest, id string) string { return base64.RawURLEncoding.EncodeToString([]byte(dest + "\x00" + id)) }
	for _, c := range []struct {
		q    url.Values
		code int
		want string
	}{
		{url.Values{"destination": {"a\x00b"}}, 200, `{"dead_letters":[]}`},
		{url.Values{"destination": {"a\xffb"}}, 200, `{"dead_letters":[]}`},
		{url.Values{"after": {cursor("a\xff", "x")}}, 400, "not UTF-8 without NULs"},
		{url.Values{"after": {cursor("a", "x\x00y")}}, 400, "not UTF-8 without NULs"},
		{url.Values{"after": {cursor("a", "x\xff")}}, 400, "not UTF-8 without NULs"},
	} {
		res, err := http.Get(srv.URL + "/dead-letters?" + c.q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.code || !strings.Contains(string(body), c.want) {
			t.Errorf("GET /dead-letters?%s: %d %s, want %d with %s", c.q.Encode(), res.StatusCode, body, c.code, c.want)
		}
	}
	for _, id := range []string{"a\x00b", "a\xffb"} {
		if _, err := ad.History(ctx, id); !errors.Is(err, outbox.ErrNotFound) {
			t.Errorf("History(%+q) = %v, want ErrNotFound", id, err)
		}
	}
}
