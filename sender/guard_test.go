package sender

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// guardCases lists addresses on both sides of every range the guard knows.
var guardCases = []struct {
	addr    string
	blocked bool
}{
	// IPv4 ranges, with public neighbours at their edges.
	{"0.0.0.0", true}, {"0.1.2.3", true},
	{"10.0.0.1", true}, {"10.255.255.255", true}, {"9.255.255.255", false}, {"11.0.0.0", false},
	{"100.64.0.1", true}, {"100.127.255.254", true}, {"100.63.255.255", false}, {"100.128.0.0", false},
	{"127.0.0.1", true}, {"127.1.2.3", true},
	{"169.254.169.254", true}, {"169.254.0.1", true}, {"169.253.255.255", false}, {"169.255.0.0", false},
	{"168.63.129.16", true}, {"168.63.129.15", false}, {"168.63.129.17", false},
	{"172.16.0.1", true}, {"172.31.255.255", true}, {"172.15.255.255", false}, {"172.32.0.0", false},
	{"192.0.0.8", true}, {"192.0.2.1", true}, {"192.0.1.1", false}, {"192.0.3.1", false},
	{"192.88.99.1", true},
	{"192.168.1.1", true}, {"192.167.255.255", false}, {"192.169.0.0", false},
	{"198.18.0.1", true}, {"198.19.255.255", true}, {"198.17.255.255", false}, {"198.20.0.0", false},
	{"198.51.100.7", true}, {"203.0.113.9", true}, {"203.0.114.1", false},
	{"224.0.0.1", true}, {"239.255.255.250", true}, {"223.255.255.255", false},
	{"240.0.0.1", true}, {"255.255.255.255", true},
	{"1.1.1.1", false}, {"8.8.8.8", false},
	// IPv6 ranges.
	{"::", true}, {"::1", true},
	{"fe80::1", true}, {"fe80::1%eth0", true}, {"febf::1", true}, {"fec0::1", true},
	{"fc00::1", true}, {"fd12:3456::1", true},
	{"ff02::1", true}, {"ff0e::1", true},
	{"100::1", true}, {"2001:db8::1", true}, {"2001::1", true}, {"2001:2::1", true}, {"2001:10::1", true},
	{"3fff::1", true}, {"4000::1", true}, {"5f00::1", true},
	{"64:ff9b:1::1", true},
	{"2606:4700:4700::1111", false}, {"2001:4860:4860::8888", false}, {"2a00:1450::1", false},
	// IPv4 wrapped in IPv6: mapped, compatible, translated, NAT64, 6to4.
	{"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true}, {"::ffff:169.254.169.254", true}, {"::ffff:168.63.129.16", true}, {"::ffff:8.8.8.8", false},
	{"::127.0.0.1", true}, {"::10.0.0.1", true}, {"::8.8.8.8", false},
	{"::ffff:0:7f00:1", true}, {"::ffff:0:a00:1", true},
	{"64:ff9b::7f00:1", true}, {"64:ff9b::a9fe:a9fe", true}, {"64:ff9b::c0a8:101", true}, {"64:ff9b::a83f:8110", true}, {"64:ff9b::808:808", false},
	{"2002:7f00:1::1", true}, {"2002:a9fe:a9fe::1", true}, {"2002:c0a8:101::1", true}, {"2002:a00:1::", true}, {"2002:808:808::1", false},
}

func TestBlockReason(t *testing.T) {
	for _, tt := range guardCases {
		a := netip.MustParseAddr(tt.addr)
		reason := blockReason(a)
		if (reason != "") != tt.blocked {
			t.Errorf("blockReason(%s) = %q, want blocked %v", tt.addr, reason, tt.blocked)
		}
		err := checkAddr("", a, nil)
		if (err != nil) != tt.blocked || (err != nil && !errors.Is(err, ErrBlockedAddr)) {
			t.Errorf("checkAddr(%s) = %v, want blocked %v", tt.addr, err, tt.blocked)
		}
		// Every address is let through by a prefix that holds it.
		if err := checkAddr("", a, []netip.Prefix{netip.PrefixFrom(a.WithZone(""), a.BitLen())}); err != nil {
			t.Errorf("checkAddr(%s) with itself allowed = %v", tt.addr, err)
		}
	}
	if blockReason(netip.Addr{}) == "" {
		t.Error("the zero Addr passed")
	}
}

func TestAllowNetworks(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for addr, wantBlocked := range map[string]bool{
		"10.1.2.3":         false,
		"::ffff:10.1.2.3":  false, // the allowlist applies to the wrapped address too
		"64:ff9b::a01:203": false,
		"192.168.1.1":      true,
		"127.0.0.1":        true,
	} {
		err := checkAddr("hooks.internal", netip.MustParseAddr(addr), allow)
		if (err != nil) != wantBlocked {
			t.Errorf("checkAddr(%s) = %v, want blocked %v", addr, err, wantBlocked)
		}
	}
}

type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestGuardDialerRefusesResolvedNames resolves a name to each blocked
// address through a test resolver: the dialer must refuse it before
// dialing, name the host, the address and the field that would allow it.
func TestGuardDialerRefusesResolvedNames(t *testing.T) {
	res := staticResolver{}
	for _, tt := range guardCases {
		if tt.blocked {
			res["h-"+strings.NewReplacer(":", "-", ".", "-", "%", "-").Replace(tt.addr)+".test"] = []netip.Addr{netip.MustParseAddr(tt.addr)}
		}
	}
	// A public answer does not launder a private one next to it.
	res["mixed.test"] = []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("10.0.0.1")}
	g := &guardDialer{resolver: res.LookupNetIP}
	for host, as := range res {
		c, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort(host, "443"))
		if c != nil {
			c.Close()
		}
		if !errors.Is(err, ErrBlockedAddr) {
			t.Errorf("dial %s (%v) = %v, want ErrBlockedAddr", host, as, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, host) || !strings.Contains(msg, "AllowNetworks") {
			t.Errorf("dial %s: error %q should name the host and Sender.AllowNetworks", host, msg)
		}
	}
}

func TestGuardDialerAllowlist(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	res := staticResolver{"local.test": {netip.MustParseAddr("127.0.0.1")}}

	g := &guardDialer{resolver: res.LookupNetIP}
	if _, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort("local.test", port)); !errors.Is(err, ErrBlockedAddr) {
		t.Fatalf("without allowlist: %v, want ErrBlockedAddr", err)
	}
	if _, err := g.DialContext(context.Background(), "tcp", ln.Addr().String()); !errors.Is(err, ErrBlockedAddr) {
		t.Fatalf("literal loopback without allowlist: %v, want ErrBlockedAddr", err)
	}
	g.allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	c, err := g.DialContext(context.Background(), "tcp", net.JoinHostPort("local.test", port))
	if err != nil {
		t.Fatalf("allowlisted: %v", err)
	}
	c.Close()
	if _, err := g.DialContext(context.Background(), "tcp", "nowhere.test:443"); err == nil || errors.Is(err, ErrBlockedAddr) {
		t.Fatalf("unknown host: %v, want a DNS error", err)
	}
	if _, err := g.DialContext(context.Background(), "tcp", "local.test"); !errors.Is(err, ErrInvalidURL) {
		t.Fatalf("no port: %v, want ErrInvalidURL", err)
	}
}
