package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// oddCache is a ReplayCache of a program's own that answers a state none
// of the three, and counts the finishes it is given back.
type oddCache struct{ finished []bool }

func (c *oddCache) Begin(string, time.Time) (ReplayState, func(bool)) {
	return ReplayState(7), func(handled bool) { c.finished = append(c.finished, handled) }
}

// A ReplayCache that answers an unknown state fails closed: the request is
// refused with 500, which the sender retries, the handler does not run,
// and the run the cache may have begun is ended as not handled. (The
// handler ran, as for a new id, and replay protection was gone.)
func TestMiddlewareRefusesUnknownReplayState(t *testing.T) {
	v := newMWTestVerifier()
	cache := &oddCache{}
	ran := 0
	h := Middleware(v, WithReplayCache(cache))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran++ }))
	srv := httptest.NewServer(h)
	defer srv.Close()
	res := mwPost(t, srv.URL, v, "msg_odd", mwTestNow, []byte(`{}`), nil)
	if res.status != http.StatusInternalServerError || ran != 0 {
		t.Errorf("status %d, handler ran %d times: want 500 and no run", res.status, ran)
	}
	if len(cache.finished) != 1 || cache.finished[0] {
		t.Errorf("finish calls %v: want one, not handled", cache.finished)
	}
}
