package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func mwPrefixes(t testing.TB, cidrs ...string) []netip.Prefix {
	t.Helper()
	ps := must(parsePrefixes(cidrs...))(t)
	return ps
}

func ipOKHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
}

// serveIP runs h on a request from remote with the given X-Forwarded-For
// lines and returns the status.
func mwServeIP(h http.Handler, remote string, xff ...string) int {
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.RemoteAddr = remote
	for _, x := range xff {
		req.Header.Add("X-Forwarded-For", x)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func TestAllowIPs(t *testing.T) {
	allowed := mwPrefixes(t, "192.0.2.0/24", "2001:db8:1::/48", "198.51.100.7")
	direct := AllowIPs(allowed, nil)(ipOKHandler())
	proxied := AllowIPs(allowed, mwPrefixes(t, "10.0.0.0/8", "fd00::/8"))(ipOKHandler())

	tests := []struct {
		name   string
		h      http.Handler
		remote string
		xff    []string
		want   int
	}{
		{"IPv4 allowed", direct, "192.0.2.10:4321", nil, 204},
		{"IPv4 single address", direct, "198.51.100.7:1", nil, 204},
		{"IPv4 neighbour of single address", direct, "198.51.100.8:1", nil, 403},
		{"IPv4 outside", direct, "203.0.113.1:4321", nil, 403},
		{"IPv6 allowed", direct, "[2001:db8:1:2::5]:443", nil, 204},
		{"IPv6 outside", direct, "[2001:db8:2::5]:443", nil, 403},
		{"IPv6 with zone", direct, "[2001:db8:1::5%eth0]:443", nil, 204},
		{"IPv4-mapped IPv6", direct, "[::ffff:192.0.2.10]:443", nil, 204},
		{"IPv4-mapped IPv6 outside", direct, "[::ffff:203.0.113.1]:443", nil, 403},
		{"bare address without port", direct, "192.0.2.10", nil, 204},
		{"malformed RemoteAddr", direct, "not-an-ip:80", nil, 403},
		{"empty RemoteAddr", direct, "", nil, 403},
		{"host name RemoteAddr", direct, "localhost:80", nil, 403},
		{"XFF spoof from an untrusted peer is ignored", direct, "203.0.113.1:1", []string{"192.0.2.10"}, 403},
		{"XFF ignored without trusted proxies, peer allowed", direct, "192.0.2.10:1", []string{"203.0.113.1"}, 204},
		{"untrusted peer with trusted proxies configured", proxied, "203.0.113.1:1", []string{"192.0.2.10"}, 403},
		{"trusted proxy, allowed client", proxied, "10.1.2.3:1", []string{"192.0.2.10"}, 204},
		{"trusted proxy, denied client", proxied, "10.1.2.3:1", []string{"203.0.113.1"}, 403},
		{"trusted chain, allowed client", proxied, "10.1.2.3:1", []string{"192.0.2.10, 10.9.9.9, 10.8.8.8"}, 204},
		{"trusted chain over IPv6 proxies", proxied, "[fd00::1]:1", []string{"2001:db8:1::9, fd00::2"}, 204},
		{"client spoofs leftmost entries", proxied, "10.1.2.3:1", []string{"192.0.2.10, 203.0.113.1"}, 403},
		{"untrusted hop in the middle stops the walk", proxied, "10.1.2.3:1", []string{"192.0.2.10, 203.0.113.1, 10.8.8.8"}, 403},
		{"several header lines are one list", proxied, "10.1.2.3:1", []string{"203.0.113.1", "192.0.2.10, 10.8.8.8"}, 204},
		{"last line decides", proxied, "10.1.2.3:1", []string{"192.0.2.10", "203.0.113.1"}, 403},
		{"entry with port", proxied, "10.1.2.3:1", []string{"192.0.2.10:5555"}, 204},
		{"bracketed IPv6 entry", proxied, "10.1.2.3:1", []string{"[2001:db8:1::1]"}, 204},
		{"mapped entry", proxied, "10.1.2.3:1", []string{"::ffff:192.0.2.10"}, 204},
		{"garbage entry", proxied, "10.1.2.3:1", []string{"unknown"}, 403},
		{"empty entry", proxied, "10.1.2.3:1", []string{"192.0.2.10,"}, 403},
		{"empty leftmost entry", proxied, "10.1.2.3:1", []string{",10.8.8.8"}, 403},
		{"overlong entry", proxied, "10.1.2.3:1", []string{"2001:db8:1::1%" + strings.Repeat("a", 80)}, 403},
		{"short zoned entry", proxied, "10.1.2.3:1", []string{"2001:db8:1::1%a"}, 204},
		{"no XFF: the proxy itself is judged", proxied, "10.1.2.3:1", nil, 403},
		{"blank XFF line is skipped", proxied, "10.1.2.3:1", []string{"192.0.2.10", "  "}, 204},
		{"all hops trusted: the leftmost is judged", proxied, "10.1.2.3:1", []string{"10.7.7.7, 10.8.8.8"}, 403},
		{"too many trusted hops", proxied, "10.1.2.3:1", []string{"192.0.2.10," + strings.Repeat("10.0.0.1,", maxForwardedHops) + "10.0.0.1"}, 403},
		{"just within the hop bound", proxied, "10.1.2.3:1", []string{"192.0.2.10," + strings.Repeat("10.0.0.1,", maxForwardedHops-2) + "10.0.0.1"}, 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mwServeIP(tt.h, tt.remote, tt.xff...); got != tt.want {
				t.Errorf("status = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAllowIPsEdgeCases(t *testing.T) {
	if got := mwServeIP(AllowIPs(nil, nil)(ipOKHandler()), "192.0.2.1:1"); got != 403 {
		t.Errorf("empty allowlist: %d, want 403", got)
	}
	// The zero Prefix is ignored rather than matching anything.
	if got := mwServeIP(AllowIPs([]netip.Prefix{{}}, nil)(ipOKHandler()), "192.0.2.1:1"); got != 403 {
		t.Errorf("zero prefix: %d, want 403", got)
	}
	// A mapped prefix given directly still matches the unmapped client.
	mapped := netip.MustParsePrefix("::ffff:192.0.2.0/120")
	if got := mwServeIP(AllowIPs([]netip.Prefix{mapped}, nil)(ipOKHandler()), "192.0.2.1:1"); got != 204 {
		t.Errorf("mapped prefix: %d, want 204", got)
	}
	// The caller's slice is copied.
	allowed := mwPrefixes(t, "192.0.2.0/24")
	h := AllowIPs(allowed, nil)(nil)
	allowed[0] = netip.MustParsePrefix("203.0.113.0/24")
	if got := mwServeIP(h, "192.0.2.1:1"); got != 200 {
		t.Errorf("after caller modified its slice: %d, want 200 (nil next)", got)
	}
	// The 403 body names no address.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "203.0.113.9:1"
	AllowIPs(mwPrefixes(t, "192.0.2.0/24"), nil)(ipOKHandler()).ServeHTTP(rec, req)
	if rec.Code != 403 || strings.Contains(rec.Body.String(), "203.0.113.9") {
		t.Errorf("403 response %d %q", rec.Code, rec.Body)
	}
}

func TestParsePrefixes(t *testing.T) {
	got := must(parsePrefixes("192.0.2.0/24", " 198.51.100.7 ", "2001:db8::/32", "2001:db8::1", "10.1.2.3/8", "::ffff:192.0.2.1", "::ffff:10.0.0.0/104", "fe80::1%eth0"))(t)
	want := []string{"192.0.2.0/24", "198.51.100.7/32", "2001:db8::/32", "2001:db8::1/128", "10.0.0.0/8", "192.0.2.1/32", "10.0.0.0/8", "fe80::1/128"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d = %s, want %s", i, got[i], want[i])
		}
	}

	for _, bad := range []string{"", "192.0.2.0/33", "300.1.1.1", "example.com", "10.0.0.0/", "/8", "2001:db8::/129"} {
		_, err := parsePrefixes("192.0.2.0/24", bad)
		if err == nil {
			t.Errorf("parsePrefixes(%q) succeeded", bad)
			continue
		}
		if !strings.Contains(err.Error(), "entry 1 ") || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("error %q does not name entry 1 %q", err, bad)
		}
	}
	if ps, err := parsePrefixes(); err != nil || len(ps) != 0 {
		t.Errorf("parsePrefixes() = %v, %v", ps, err)
	}
}

// FuzzAllowIPsXFF: whatever RemoteAddr and X-Forwarded-For hold, AllowIPs
// does not panic, and a peer that is not a trusted proxy is judged by its
// own address alone, exactly as if no X-Forwarded-For had been sent.
func FuzzAllowIPsXFF(f *testing.F) {
	f.Add("192.0.2.1:1234", "203.0.113.5")
	f.Add("10.0.0.1:1", "192.0.2.9, 10.0.0.2")
	f.Add("[::ffff:10.0.0.1]:1", "[2001:db8::1]:80,10.0.0.3")
	f.Add("[fe80::1%eth0]:1", ",,,")
	f.Add("garbage", "192.0.2.9")
	f.Add("10.0.0.1:1", strings.Repeat("10.0.0.1,", 40))

	allowed := mwPrefixes(f, "192.0.2.0/24", "2001:db8::/32")
	trusted := mwPrefixes(f, "10.0.0.0/8", "::1")
	withProxies := AllowIPs(allowed, trusted)(ipOKHandler())
	plain := AllowIPs(allowed, nil)(ipOKHandler())

	f.Fuzz(func(t *testing.T, remote, xff string) {
		got := mwServeIP(withProxies, remote, xff)
		if got != 204 && got != 403 {
			t.Fatalf("status %d", got)
		}
		peer, ok := parseHostAddr(remote)
		if ok && containsAddr(trusted, peer) {
			return // the proxy case: XFF may decide
		}
		if want := mwServeIP(plain, remote); got != want {
			t.Fatalf("untrusted peer %q with XFF %q: %d, without XFF and proxies: %d", remote, xff, got, want)
		}
		// Independent oracle for the peer-only judgement.
		want := 403
		if ap, err := netip.ParseAddrPort(remote); err == nil && containsAddr(allowed, ap.Addr().WithZone("").Unmap()) {
			want = 204
		}
		if a, err := netip.ParseAddr(remote); err == nil && containsAddr(allowed, a.WithZone("").Unmap()) {
			want = 204
		}
		if want == 204 && got != 204 {
			t.Fatalf("allowed peer %q refused", remote)
		}
	})
}

// FuzzParsePrefixes: no panic; what parses is a valid, masked prefix that
// parses back to itself from its String form.
func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"192.0.2.0/24", "2001:db8::1", "::ffff:10.0.0.0/104", "fe80::1%eth0", "1.2.3.4/33", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parsePrefixes(s)
		if err != nil {
			return
		}
		p := ps[0]
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("parsePrefixes(%q) = %v: not normalised", s, p)
		}
		back, err := parsePrefixes(p.String())
		if err != nil || back[0] != p {
			t.Fatalf("round trip of %v: %v, %v", p, back, err)
		}
	})
}

// parsePrefixes, for the tests, parses CIDR prefixes ("192.0.2.0/24", "2001:db8::/32") and
// plain addresses ("192.0.2.7", a single-address prefix) for [AllowIPs], both its
// allowed list and its trusted proxies. Host bits are masked off and IPv4-mapped IPv6 entries
// become IPv4 ones. The error names the first entry that is neither.
func parsePrefixes(cidrs ...string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, s := range cidrs {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("auth: entry %d %q is not an IP address or CIDR prefix: %w", i, s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return normalizePrefix(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.WithZone("").Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
