package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender/sendertest"
)

// BenchmarkRelayStore runs one herald relay process on a bbolt file and on
// a JetStream outbox (an external nats-server process): 32 clients post
// b.N signed events, each delivered once to a verifying HTTPS receiver.
// It reports events/s from the first post to the last delivery, and the
// CPU time per event of the relay process and of nats-server, from their
// rusage: the per-core figures of docs/SCALING.md; nats-3-relays runs three
// relays on one stream, the clients posting to each in turn. Compare the
// rows of one run (go test -bench RelayStore -benchtime 3000x ./cmd/herald).
func BenchmarkRelayStore(b *testing.B) {
	b.Run("bbolt", func(b *testing.B) { benchRelay(b, "bbolt", 1) })
	b.Run("nats", func(b *testing.B) { benchRelay(b, "nats", 1) })
	b.Run("nats-3-relays", func(b *testing.B) { benchRelay(b, "nats", 3) })
}

// benchRelay runs the benchmark with n relays on engine; the clients post
// to them in turn, and the relay CPU reported is their sum.
func benchRelay(b *testing.B, engine string, n int) {
	dir := b.TempDir()
	out, _ := auth.GenerateStandardSecret()
	in, _ := auth.GenerateStandardSecret()
	outV, _ := auth.NewStandard([]auth.Secret{out})
	inS, _ := auth.NewStandard([]auth.Secret{in})
	rcv := sendertest.NewReceiver(b, outV)
	writeFile(b, dir, "ca.pem", receiverCertPEM(b, rcv))
	store := filepath.Join(dir, "relay.db")
	var ns *natsProc
	if engine == "nats" {
		ns = startNATSProc(b, b.TempDir(), freePort(b), randomHex(b, 12))
		store = ns.url()
	}
	var cmds []*exec.Cmd
	var urls []string
	for range n {
		cmd := exec.Command(heraldBin, "relay", "--listen", "127.0.0.1:0", "--store", store, "--dest", rcv.URL(),
			"--secret", "env:OUT", "--in-secret", "env:IN", "--cacert", "ca.pem", "--allow-private", "--workers", "32", "--log-level", "warn")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "OUT="+auth.FormatStandardSecret(out), "IN="+auth.FormatStandardSecret(in))
		pipe, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer cmd.Process.Kill()
		sc := bufio.NewScanner(pipe)
		url := ""
		for url == "" && sc.Scan() {
			url, _ = strings.CutPrefix(sc.Text(), "relay listening on ")
		}
		go func() {
			for sc.Scan() {
			}
		}()
		if url == "" {
			b.Fatal("relay did not start")
		}
		cmds, urls = append(cmds, cmd), append(urls, url)
	}

	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for n := next.Add(1); n <= int64(b.N); n = next.Add(1) {
				id := fmt.Sprintf("b-%07d", n)
				body := fmt.Sprintf(`{"id":%q,"topic":"job:done","payload":{"pad":%q}}`, id, strings.Repeat("x", 900))
				req, _ := http.NewRequest(http.MethodPost, urls[n%int64(len(urls))]+"/events", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				_ = inS.Sign(req.Header, auth.Message{ID: id, Body: []byte(body)})
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != http.StatusNoContent {
					b.Errorf("post %s: %v %v", id, err, resp)
					return
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if _, err := rcv.WaitFor(b.N, 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	var cpu time.Duration
	for _, cmd := range cmds {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "relay-cpu-µs/event")
	if ns != nil {
		_ = ns.cmd.Process.Signal(syscall.SIGTERM)
		<-ns.done
		st := ns.cmd.ProcessState
		ns.cmd = nil
		b.ReportMetric(float64((st.UserTime()+st.SystemTime()).Microseconds())/float64(b.N), "nats-cpu-µs/event")
	}
}
