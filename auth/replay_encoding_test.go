package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestMiddlewareJWTReencodedSignature replays captured tokens without a
// jti, of every algorithm, with their signature segment spelled otherwise:
// the unused low bits of its last base64url character set, which a lax
// decoder maps to the same bytes, and a webhook-id header added. Each copy
// is refused or answered as a duplicate: the replay key is the decoded
// signature, not its text (issue #14, 4).
func TestMiddlewareJWTReencodedSignature(t *testing.T) {
	for _, c := range jwtCases(t) {
		t.Run(c.alg, func(t *testing.T) {
			v, tok := controlToken(t, c)
			var runs atomic.Int32
			srv := httptest.NewServer(Middleware(v)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { runs.Add(1) })))
			defer srv.Close()
			dot := strings.LastIndexByte(tok, '.')
			seg := tok[dot+1:]
			last := strings.IndexByte(b64url, seg[len(seg)-1])
			spare := len(seg) * 6 % 8 // unused low bits of the last character
			variants := []string{tok}
			for b := 1; b < 1<<spare; b++ {
				variants = append(variants, tok[:len(tok)-1]+string(b64url[last|b]))
			}
			for i, tk := range variants {
				req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+tk)
				req.Header.Set("webhook-id", "evil_"+strings.Repeat("x", i))
				st, got := mwDo(t, srv.Client(), req)
				switch {
				case i == 0 && st != 200:
					t.Fatalf("the genuine token: %d %q", st, got)
				case i > 0 && st != 401 && got != duplicateText:
					t.Errorf("variant %d of the signature segment: %d %q, want 401 or the duplicate answer", i, st, got)
				}
			}
			if r := runs.Load(); r != 1 {
				t.Fatalf("handler ran %d times for %d spellings of one token, want 1", r, len(variants))
			}
		})
	}
}

// b64url is the base64url alphabet, in value order.
const b64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
