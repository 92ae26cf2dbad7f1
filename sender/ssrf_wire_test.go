package sender_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// countingListener accepts TCP connections on addr, counts them and
// closes them at once: the test fails if anything reaches it.
func countingListener(t *testing.T, network, addr string) (port string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, accepted
}

// TestSSRFHostForms sends, with a default Sender and the system resolver,
// to every spelling of a loopback, private or cloud metadata address a
// tenant might give as a destination: dotted, short, decimal, octal and
// hex IPv4, IPv6 with mapped, compatible, NAT64 and 6to4 forms, zones,
// trailing dots, names that resolve to loopback, user information that
// hides the host. Loopback listeners on the ports used count every
// connection: none may arrive, and every Send fails.
func TestSSRFHostForms(t *testing.T) {
	p4, acc4 := countingListener(t, "tcp4", "127.0.0.1:0")
	p6, acc6 := countingListener(t, "tcp6", "[::1]:0")
	forms4 := []string{
		"127.0.0.1", "127.1", "127.0.1", "127.000.000.001", "2130706433", "0x7f000001", "0x7f.0.0.1", "0177.0.0.1",
		"017700000001", "127.0.0.1.", "0", "0.0.0.0", "localhost", "LOCALHOST", "localhost.", "LocalHost",
		"169.254.169.254", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "169.254.169.254.",
		"metadata.google.internal", "10.0.0.1", "0x0a000001", "192.168.0.1", "172.16.0.1", "100.64.0.1",
		"evil.example@127.0.0.1", "user:pass@127.0.0.1",
	}
	forms6 := []string{
		"[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]",
		"[::127.0.0.1]", "[::]", "[64:ff9b::7f00:1]", "[2002:7f00:1::1]", "[fe80::1%25lo]", "[::ffff:a9fe:a9fe]",
		"[fd00:ec2::254]", "[::ffff:169.254.169.254]",
	}
	var urls []string
	for _, h := range forms4 {
		urls = append(urls, "https://"+h+":"+p4+"/hook")
	}
	for _, h := range forms6 {
		urls = append(urls, "https://"+h+":"+p6+"/hook")
	}
	if len(urls) < 35 {
		t.Fatalf("only %d host forms", len(urls))
	}
	s := &sender.Sender{Retry: sender.RetryPolicy{MaxAttempts: 1}, AttemptTimeout: 5 * time.Second}
	for _, u := range urls {
		_, err := s.Send(context.Background(), sender.Destination{URL: u}, sender.Message{Body: []byte("{}")})
		if err == nil {
			t.Errorf("Send(%s) succeeded", u)
		} else if !errors.Is(err, sender.ErrBlockedAddr) && !errors.Is(err, sender.ErrNetwork) && !errors.Is(err, sender.ErrInvalidMessage) {
			t.Errorf("Send(%s) = %v", u, err)
		}
	}
	if n := acc4.Load() + acc6.Load(); n != 0 {
		t.Fatalf("%d connections reached loopback", n)
	}
}

// TestSendNoProxyFromEnvironment runs a delivery and an OAuth2 token
// fetch in a child process whose environment names a proxy (HTTPS_PROXY,
// HTTP_PROXY, ALL_PROXY, upper and lower case): a proxy would make the
// address guard check the proxy, not the destination. Both must go
// straight to their servers; the proxy, a listener of this process, must
// see no connection. (A child, because net/http reads the proxy variables
// once per process.)
func TestSendNoProxyFromEnvironment(t *testing.T) {
	if os.Getenv("HERALD_PROXY_CHILD") == "1" {
		sendThroughEnvProxy(t)
		return
	}
	port, accepted := countingListener(t, "tcp4", "127.0.0.1:0")
	proxy := "http://127.0.0.1:" + port
	cmd := exec.Command(os.Args[0], "-test.run=^TestSendNoProxyFromEnvironment$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HERALD_PROXY_CHILD=1", "NO_PROXY=", "no_proxy=")
	for _, name := range []string{"HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"} {
		cmd.Env = append(cmd.Env, name+"="+proxy, strings.ToLower(name)+"="+proxy)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the proxy named in the environment got %d connections", n)
	}
}

// sendThroughEnvProxy is the child of TestSendNoProxyFromEnvironment: a
// delivery with an OAuth2 token to a receiver that example.com resolves
// to (a loopback address would bypass any proxy anyway).
func sendThroughEnvProxy(t *testing.T) {
	if os.Getenv("HTTPS_PROXY") == "" {
		t.Fatal("no proxy in the environment")
	}
	tokens := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"tok","token_type":"Bearer","expires_in":600}`)
	}))
	defer tokens.Close()
	rcv := sendertest.NewReceiver(t, nil)
	s := rcv.Sender()
	s.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	s.LookupNetIP = (&mapResolver{names: map[string][]netip.Addr{"example.com": addrs("127.0.0.1")}}).LookupNetIP
	s.Retry.MaxAttempts = 1
	s.AttemptTimeout = 5 * time.Second
	ru, _ := url.Parse(rcv.URL())
	tu, _ := url.Parse(tokens.URL)
	dest := sender.Destination{URL: "https://example.com:" + ru.Port() + "/hook",
		OAuth2: &sender.OAuth2{TokenURL: "https://example.com:" + tu.Port() + "/token", ClientID: "c"}}
	if res, err := s.Send(context.Background(), dest, sender.Message{Body: []byte("{}")}); err != nil || res.Status != 204 && res.Status != 200 {
		t.Fatalf("Send with a proxy in the environment: %+v, %v", res, err)
	}
	if ds := rcv.Deliveries(); len(ds) != 1 || ds[0].Header.Get("Authorization") != "Bearer tok" {
		t.Fatalf("the receiver got %d deliveries", len(ds))
	}
}
