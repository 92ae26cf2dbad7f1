package auth

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestJWKSFetchBounded: a fetched key set is read up to its 1 MiB bound
// and no further, whatever the server sends. A document of exactly the
// bound is taken; one byte over, an endless body, truncated JSON, a body
// cut short of its Content-Length, and a body that stalls fail the fetch
// with ErrUnknownKey and an error saying which, quoting nothing of the
// URL's query. An endless or stalled server is let go: its handler ends.
// (A body stalled past the fetch's timeout could read as ended, when the
// server let go as the fetch hung up: the error then called the set "not
// a JSON key set" instead of saying the fetch timed out.)
func TestJWKSFetchBounded(t *testing.T) {
	ks := asymKeys(t)
	good := must(MarshalJWKS(ks.ed.Public()))(t)
	padded := func(n int) []byte { // good, padded with spaces to n bytes
		return append(append(bytes.Clone(good[:len(good)-1]), bytes.Repeat([]byte(" "), n-len(good))...), '}')
	}
	endless := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"keys":[`))
			chunk := bytes.Repeat([]byte(" "), 32<<10)
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		timeout time.Duration // of the fetch, for the stalled body
		mention string        // "" for a set taken
	}{
		{"exactly the bound", serveBytes(padded(maxJWKSLen)), 0, ""},
		{"one byte over", serveBytes(padded(maxJWKSLen + 1)), 0, "larger than 1048576 bytes"},
		{"endless", endless(http.StatusOK), 0, "larger than"},
		{"endless error body", endless(http.StatusInternalServerError), 0, "status 500"},
		{"truncated JSON", serveBytes(good[:len(good)/2]), 0, "not a JSON key set"},
		{"short of its length", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(2*len(good)))
			_, _ = w.Write(good)
		}, 0, "reading"},
		{"stalled", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"keys":[`))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, 200 * time.Millisecond, "context deadline exceeded"},
	}
	for i := range 4 { // the cut-off body read as ended only some of the time
		tests = append(tests, tests[len(tests)-1])
		tests[len(tests)-1].name += strconv.Itoa(i)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var running atomic.Int32
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				running.Add(1)
				defer running.Add(-1)
				tt.handler(w, r)
			}))
			defer srv.Close()
			j := must(NewJWKS(srv.URL+"/jwks?secret=QUERYSECRET", srv.Client()))(t)
			if tt.timeout != 0 {
				j.fetchTimeout = tt.timeout
			}
			keys, err := j.Keys(context.Background(), ks.ed.ID())
			if tt.mention == "" {
				if err != nil || len(keys) != 1 || !keys[0].equal(ks.ed.Public()) {
					t.Fatalf("a set of %d bytes: %d keys, %v", len(padded(maxJWKSLen)), len(keys), err)
				}
				return
			}
			if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), tt.mention) || strings.Contains(err.Error(), "QUERYSECRET") {
				t.Fatalf("err = %v; want ErrUnknownKey mentioning %q, without the query", err, tt.mention)
			}
			// The server is let go: the client closed the body rather
			// than reading on (an endless handler would never return).
			for end := time.Now().Add(30 * time.Second); running.Load() != 0; time.Sleep(time.Millisecond) {
				if time.Now().After(end) {
					t.Fatal("the server's handler still runs 30 s after the fetch failed: the body is being read on")
				}
			}
		})
	}
}

// serveBytes is a handler serving doc.
func serveBytes(doc []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(doc) }
}
