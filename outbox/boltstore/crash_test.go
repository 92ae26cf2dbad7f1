package boltstore_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
)

// The crash test runs a Queue over a bbolt store in a child process (this
// test binary, re-executed into TestHelperProcess), delivering to a
// counting HTTPS receiver in the parent, and kills the child with SIGKILL
// at random moments (a random point of progress, then a random delay),
// restarting it each time. The child also enqueues:
// it reports each id on stdout once Enqueue returned, and a restarted
// child enqueues the ids not reported yet. Every reported id must arrive.
//
// The deliveries are signed, and the receiver verifies them with
// auth.Middleware, as a herald receiver would: a delivery re-sent after a
// kill (sent, but its acknowledgement not yet committed) is then a
// duplicate that the middleware acknowledges without running the handler,
// so the handler runs exactly once per id and nothing is dead-lettered.

const helperEnv = "HERALD_OUTBOX_HELPER"

func TestCrash(t *testing.T) {
	const kills = 6
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")

	secret, err := auth.GenerateStandardSecret()
	must(t, err)
	verifier, err := auth.NewStandard([]auth.Secret{secret})
	must(t, err)
	var (
		mu       sync.Mutex
		received = map[string]int{} // requests, by id
		failed   = map[string]int{} // failures the handler made up, by id
		handled  = map[string]int{} // handler runs that succeeded, by id
		requests int
	)
	handler := auth.Middleware(verifier)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		if requests%97 == 0 { // a few failures, to exercise rescheduling
			failed[r.Header.Get("Webhook-Id")]++
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		handled[r.Header.Get("Webhook-Id")]++
	}))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received[r.Header.Get("Webhook-Id")]++
		mu.Unlock()
		handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	certFile := filepath.Join(dir, "cert.pem")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	enqueued := make(map[int]bool, crashTotal)
	distinct := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(received)
	}
	// runChild runs a child until it finishes, or, when killAt > 0, until
	// killAt distinct ids have arrived and then a random moment later.
	runChild := func(killAt int) (finished bool) {
		var todo []string
		for i := range crashTotal {
			if !enqueued[i] {
				todo = append(todo, strconv.Itoa(i))
			}
		}
		todoFile := filepath.Join(dir, "todo")
		must(t, os.WriteFile(todoFile, []byte(strings.Join(todo, "\n")), 0o600))
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"=1", "OUTBOX_PATH="+path, "OUTBOX_URL="+srv.URL,
			"OUTBOX_CERT="+certFile, "OUTBOX_TODO="+todoFile, "OUTBOX_SECRET="+auth.FormatStandardSecret(secret))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		must(t, err)
		must(t, cmd.Start())
		stop := make(chan struct{})
		defer close(stop)
		if killAt > 0 {
			go func() {
				for distinct() < killAt {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
				time.Sleep(time.Duration(rand.N(20)) * time.Millisecond)
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}()
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "E "):
				i, err := strconv.Atoi(line[2:])
				must(t, err)
				enqueued[i] = true
			case line == "DONE":
				finished = true
			}
		}
		err = cmd.Wait()
		if finished && err != nil {
			t.Fatalf("child: %v", err)
		}
		if !finished {
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if killAt == 0 || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended without finishing, and not by our SIGKILL: %v", err)
			}
		}
		return finished
	}

	// Kill points spread over the whole run: while enqueuing, while
	// delivering, and both.
	points := make([]int, kills)
	for i := range points {
		lo := crashTotal * (i + 1) / (kills + 2)
		points[i] = lo + rand.N(crashTotal/(kills+2))
	}
	killed := 0
	for _, at := range points {
		if runChild(at) {
			break // finished before the kill
		}
		killed++
		mu.Lock()
		t.Logf("kill %d: %d of %d enqueued, %d distinct received", killed, len(enqueued), crashTotal, len(received))
		mu.Unlock()
	}
	if killed < kills {
		t.Fatalf("the work finished after %d kills, want at least %d: make it bigger", killed, kills)
	}
	if !runChild(0) {
		t.Fatal("the last child did not finish")
	}

	mu.Lock()
	defer mu.Unlock()
	missing, dups, twice := 0, 0, 0
	for i := range crashTotal {
		id := strconv.Itoa(i)
		if handled[id] == 0 {
			missing++
		}
		if handled[id] > 1 {
			twice++
		}
		dups += max(0, received[id]-1-failed[id]) // the retries of failures are not duplicates
	}
	if missing > 0 {
		t.Errorf("%d of %d deliveries never handled", missing, crashTotal)
	}
	if twice > 0 {
		t.Errorf("%d deliveries handled more than once: the middleware let a duplicate through", twice)
	}
	if len(handled) != crashTotal {
		t.Errorf("handled %d distinct ids, want %d", len(handled), crashTotal)
	}
	t.Logf("%d deliveries, %d kills: %d duplicates sent (%.2f%%), acknowledged by the middleware; %d handler runs in all",
		crashTotal, killed, dups, 100*float64(dups)/crashTotal, requests)

	s, err := boltstore.Open(path, nil)
	must(t, err)
	defer s.Close()
	if st, _ := s.Stats(ctx); st != (outbox.Stats{}) {
		t.Errorf("store not empty at the end: %+v", st)
	}
}

// TestHelperProcess is the child of TestCrash; run alone it does nothing.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		return
	}
	if err := crashChild(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// crashChild runs the queue until it has enqueued its to-do list and the
// outbox is empty.
func crashChild() error {
	pemBytes, err := os.ReadFile(os.Getenv("OUTBOX_CERT"))
	if err != nil {
		return err
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	secret, err := auth.ParseStandardSecret(os.Getenv("OUTBOX_SECRET"))
	if err != nil {
		return err
	}
	signer, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		return err
	}
	todo, err := os.ReadFile(os.Getenv("OUTBOX_TODO"))
	if err != nil {
		return err
	}

	s, err := boltstore.Open(os.Getenv("OUTBOX_PATH"), &boltstore.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer s.Close()
	snd := &sender.Sender{
		TLS:           &tls.Config{RootCAs: roots},
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Retry:         sender.RetryPolicy{MaxAttempts: 2, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond},
	}
	delays := []time.Duration{0}
	for range 50 {
		delays = append(delays, 20*time.Millisecond)
	}
	q := &outbox.Queue{
		Outbox: s, Sender: snd, Workers: 32, PerDestination: 32,
		Destinations: []sender.Destination{{Name: "parent", URL: os.Getenv("OUTBOX_URL"), Signer: signer}},
		Schedule:     outbox.Schedule{Delays: delays},
		Breaker:      outbox.Breaker{Failures: -1},
		LeaseTTL:     time.Minute,
		Poll:         10 * time.Millisecond,
	}
	runErr := make(chan error, 1)
	go func() { runErr <- q.Run(context.Background()) }()

	// Enqueue from 16 goroutines, reporting each id once it is durable.
	var (
		outMu sync.Mutex
		out   = bufio.NewWriter(os.Stdout)
		wg    sync.WaitGroup
		errs  = make(chan error, 16)
	)
	ids := strings.Fields(string(todo))
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(ids); i += 16 {
				if _, err := q.Enqueue(context.Background(), "parent", sender.Message{ID: ids[i], Body: []byte(`{"n":` + ids[i] + `}`)}); err != nil {
					errs <- err
					return
				}
				outMu.Lock()
				fmt.Fprintf(out, "E %s\n", ids[i])
				out.Flush()
				outMu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	for {
		st, err := s.Stats(context.Background())
		if err != nil {
			return err
		}
		if st.Pending == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-runErr; err != nil {
		return err
	}
	fmt.Println("DONE")
	return nil
}
