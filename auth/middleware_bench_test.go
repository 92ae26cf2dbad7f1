package auth

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// mwBenchSink receives the bodies that benchmark handlers read.
var mwBenchSink [2048]byte

// mwDiscardWriter is a reusable ResponseWriter that keeps only the status.
type mwDiscardWriter struct {
	h      http.Header
	status int
}

func (w *mwDiscardWriter) Header() http.Header         { return w.h }
func (w *mwDiscardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *mwDiscardWriter) WriteHeader(code int)        { w.status = code }

// benchMiddleware measures, for one scheme and a 1 KiB body, Verify called
// directly (the baseline) and the same verification through Middleware,
// with and without the replay cache. Compare the ns/op of the sub-benchmarks
// of one run: the ratio is the middleware's overhead.
func benchMiddleware(b *testing.B, s Signer, v Verifier, now time.Time) {
	body := bytes.Repeat([]byte("a"), 1024)
	sign := func(id string) http.Header {
		h := signed(b, s, Message{ID: id, Timestamp: now, Body: body, URL: "https://hooks.example.com/in"})
		return h
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A typical handler reads the whole body.
		_, _ = io.ReadFull(r.Body, mwBenchSink[:])
	})
	// The request, its body reader and the writer are reused, so that
	// the harness allocates nothing per request and the difference from
	// Verify is the middleware's own cost.
	w := &mwDiscardWriter{h: http.Header{}}
	rd := bytes.NewReader(body)
	req := &http.Request{Method: http.MethodPost, RemoteAddr: "192.0.2.1:1234",
		Body: io.NopCloser(rd), ContentLength: int64(len(body))}
	serve := func(b *testing.B, h http.Handler, hdr http.Header) {
		rd.Reset(body)
		req.Header = hdr
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != 0 && w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}

	b.Run("Verify", func(b *testing.B) {
		hdr := sign("msg_bench")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(hdr, body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Middleware", func(b *testing.B) {
		h := Middleware(v, WithReplayCache(nil))(next)
		hdr := sign("msg_bench")
		b.ReportAllocs()
		for b.Loop() {
			serve(b, h, hdr)
		}
	})
	b.Run("MiddlewareReplayCache", func(b *testing.B) {
		// A pool of distinct deliveries, cycled through a cache too small
		// to hold them: every request is a miss plus an eviction, the
		// steady state of a full cache.
		const pool = 4096
		hdrs := make([]http.Header, pool)
		for i := range hdrs {
			hdrs[i] = sign("msg_bench_" + strconv.Itoa(i))
		}
		h := Middleware(v, WithReplayCache(NewReplayCache(pool/4)))(next)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			serve(b, h, hdrs[i%pool])
			i++
		}
	})
}

func BenchmarkMiddlewareJWT(b *testing.B) {
	j := must(NewJWT("HS256", []Secret{jwtSecret}, WithClock(asymClock)))(b)
	benchMiddleware(b, j, j, asymNow)
}
