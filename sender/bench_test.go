package sender_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
)

// The delivery benchmarks compare, against one httptest TLS server on
// loopback and with a 1 KiB body, at concurrency 1, 16 and 64:
//
//   - herald: Sender.Send, signed with Standard Webhooks v1 (HMAC-SHA256);
//   - raw: a tuned net/http client doing the same POSTs, unsigned;
//   - retryablehttp: go-retryablehttp's NewClient() (its logger off, so as
//     to measure its connection pool rather than its stderr output).
//
// Compare deliveries/s and allocs/op within one run:
//
//	go test -run '^$' -bench Deliver -benchmem ./sender/
//
// On a shared, noisy machine BenchmarkDeliverRatio is the one to read: it
// alternates herald and raw in chunks within one benchmark, so that load
// from elsewhere hits both alike, and reports both rates, their ratio and
// both allocation counts (server side included, the same for both).
var benchConcurrency = []int{1, 16, 64}

var benchBody = bytes.Repeat([]byte("x"), 1024)

func benchServer(b *testing.B) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	// Clients closing idle connections at the end of a run are no news.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	b.Cleanup(srv.Close)
	return srv
}

// runConcurrent calls do b.N times from c goroutines and reports the rate,
// after a warm-up that fills the connection pool.
func runConcurrent(b *testing.B, c int, do func() error) {
	if _, _, _, err := timed(c, 4*c, do); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	for range c {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := do(); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}

// heraldDeliver returns a function doing one signed delivery to srv.
func heraldDeliver(b *testing.B, srv *httptest.Server) func() error {
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	std, err := auth.NewStandard([]auth.Secret{auth.NewSecret(bytes.Repeat([]byte("k"), 32))})
	if err != nil {
		b.Fatal(err)
	}
	s := &sender.Sender{
		TLS:           &tls.Config{RootCAs: roots},
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}
	b.Cleanup(s.CloseIdleConnections)
	dest := sender.Destination{Name: "bench", URL: srv.URL + "/hook", Signer: std}
	ctx := context.Background()
	return func() error {
		_, err := s.Send(ctx, dest, sender.Message{Body: benchBody})
		return err
	}
}

// rawDeliver returns a function doing one unsigned POST to srv through a
// tuned net/http client: the baseline.
func rawDeliver(b *testing.B, srv *httptest.Server) func() error {
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots, ClientSessionCache: tls.NewLRUClientSessionCache(1024)},
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	url := srv.URL + "/hook"
	ctx := context.Background()
	return func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(benchBody))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		return drained(client.Do(req))
	}
}

// retryableDeliver returns a function doing one unsigned POST to srv
// through go-retryablehttp's NewClient, its logger off.
func retryableDeliver(b *testing.B, srv *httptest.Server) func() error {
	rc := retryablehttp.NewClient()
	rc.Logger = nil
	tr := rc.HTTPClient.Transport.(*http.Transport)
	tr.TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	b.Cleanup(tr.CloseIdleConnections)
	url := srv.URL + "/hook"
	return func() error {
		req, err := retryablehttp.NewRequest(http.MethodPost, url, benchBody)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		return drained(rc.Do(req))
	}
}

// drained reads the body of resp to its end and closes it, so that the
// connection goes back to the pool, or returns err.
func drained(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// cpuTime returns the CPU time (user and system) used by the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timed runs do n times from c goroutines and returns the wall time, the
// process CPU time and the number of heap allocations.
func timed(c, n int, do func() error) (time.Duration, time.Duration, uint64, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs := ms.Mallocs
	cpu := cpuTime()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range c {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := do(); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	cpu = cpuTime() - cpu
	runtime.ReadMemStats(&ms)
	err, _ := failed.Load().(error)
	return d, cpu, ms.Mallocs - mallocs, err
}

func BenchmarkDeliverRatio(b *testing.B) {
	srv := benchServer(b)
	// The clients outlive the rounds of increasing b.N, like their pools.
	herald, raw := heraldDeliver(b, srv), rawDeliver(b, srv)
	for _, c := range benchConcurrency {
		b.Run("c="+strconv.Itoa(c), func(b *testing.B) {
			chunk := max(200, 20*c)
			// Warm both pools up.
			for _, do := range []func() error{herald, raw} {
				if _, _, _, err := timed(c, 4*c, do); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			var th, tr, ch, cr time.Duration
			var ah, ar uint64
			for done := 0; done < b.N; {
				n := min(chunk, b.N-done)
				d, cpu, a, err := timed(c, n, herald)
				if err != nil {
					b.Fatal(err)
				}
				th, ch, ah = th+d, ch+cpu, ah+a
				d, cpu, a, err = timed(c, n, raw)
				if err != nil {
					b.Fatal(err)
				}
				tr, cr, ar = tr+d, cr+cpu, ar+a
				done += n
			}
			n := float64(b.N)
			b.ReportMetric(n/th.Seconds(), "herald/s")
			b.ReportMetric(n/tr.Seconds(), "raw/s")
			b.ReportMetric(tr.Seconds()/th.Seconds(), "ratio")
			b.ReportMetric(float64(ch.Microseconds())/n, "herald-cpu-µs/op")
			b.ReportMetric(float64(cr.Microseconds())/n, "raw-cpu-µs/op")
			b.ReportMetric(float64(ah)/n, "herald-allocs/op")
			b.ReportMetric(float64(ar)/n, "raw-allocs/op")
		})
	}
}

func BenchmarkDeliver(b *testing.B) {
	srv := benchServer(b)
	// The clients outlive the rounds of increasing b.N, like their pools.
	clients := []struct {
		name string
		do   func() error
	}{
		{"herald", heraldDeliver(b, srv)},
		{"raw", rawDeliver(b, srv)},
		{"retryablehttp", retryableDeliver(b, srv)},
	}
	for _, c := range benchConcurrency {
		for _, cl := range clients {
			b.Run(cl.name+"/c="+strconv.Itoa(c), func(b *testing.B) {
				runConcurrent(b, c, cl.do)
			})
		}
	}
}
