package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/heraldhq/herald/internal/natstest"
)

// randomHex returns n random bytes in hex, for passwords and names.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// embeddedNATS starts a NATS server with JetStream in the test process, on
// loopback, that accepts user "herald" with a new random password. It is
// shut down when the test ends. It returns the server's host:port and the
// password.
func embeddedNATS(t *testing.T) (addr, pass string) {
	t.Helper()
	pass = "pw-" + randomHex(t, 12)
	return natstest.Start(t, &server.Options{Username: "herald", Password: pass}).Addr().String(), pass
}

var (
	natsServerOnce sync.Once
	natsServerBin  string
	natsServerErr  error
)

// natsServerBinary builds, once per test binary, the nats-server command of
// the module version go.mod requires, beside the herald binary.
func natsServerBinary(t testing.TB) string {
	t.Helper()
	natsServerOnce.Do(func() {
		bin := filepath.Join(filepath.Dir(heraldBin), "nats-server")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsServerErr = fmt.Errorf("building nats-server: %v\n%s", err, out)
			return
		}
		natsServerBin = bin
	})
	if natsServerErr != nil {
		t.Fatal(natsServerErr)
	}
	return natsServerBin
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// natsProc is an external nats-server process with JetStream, restartable
// on the same port and store directory.
type natsProc struct {
	bin, dir, pass string
	port           int
	cmd            *exec.Cmd
	done           chan error
	mu             sync.Mutex
	log            bytes.Buffer
}

// startNATSProc starts nats-server on port, storing in dir, accepting user
// "herald" with password pass, and waits until it is ready. It is killed
// when the test ends.
func startNATSProc(t testing.TB, dir string, port int, pass string) *natsProc {
	t.Helper()
	p := &natsProc{bin: natsServerBinary(t), dir: dir, pass: pass, port: port}
	p.start(t)
	t.Cleanup(func() {
		if p.cmd != nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// start starts the process and waits for "Server is ready".
func (p *natsProc) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(p.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(p.port), "-js", "-sd", p.dir,
		"--user", "herald", "--pass", p.pass)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd, p.done = cmd, make(chan error, 1)
	ready := make(chan struct{}, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if strings.Contains(sc.Text(), "Server is ready") {
				ready <- struct{}{}
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case <-ready:
	case err := <-p.done:
		t.Fatalf("nats-server exited: %v\n%s", err, p.logText())
	case <-time.After(60 * time.Second):
		t.Fatalf("nats-server not ready\n%s", p.logText())
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *natsProc) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.cmd = nil
}

// logText returns what the server logged so far.
func (p *natsProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// url returns the server's URL with user "herald" and the password.
func (p *natsProc) url() string {
	return fmt.Sprintf("nats://herald:%s@127.0.0.1:%d", p.pass, p.port)
}
