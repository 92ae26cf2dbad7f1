package auth

import (
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops is how many X-Forwarded-For entries [AllowIPs] examines,
// from the right, before it gives up and refuses the request: a longer
// chain of trusted proxies is not plausible, and the bound keeps the work
// per request small whatever the header holds.
const maxForwardedHops = 16

// maxAddrLen bounds one X-Forwarded-For entry: "[IPv6]:port" with room to
// spare. Longer entries are refused without being parsed.
const maxAddrLen = 64

// AllowIPs returns net/http middleware that lets through only requests whose
// client address lies in one of the allowed prefixes, and answers every
// other with 403 Forbidden.
//
// The client is the direct peer (RemoteAddr), unless that peer lies in one
// of trustedProxies, the reverse proxies and load balancers in front of the
// server: then AllowIPs reads X-Forwarded-For, walking it from right to left
// past the trusted proxies to the first address that is not one, and judges
// that address. With no trusted proxies X-Forwarded-For is ignored, since
// any client can write it.
//
// IPv4-mapped IPv6 addresses are
// judged as IPv4 and zones are ignored; a RemoteAddr or a consulted
// X-Forwarded-For entry that is not an IP address is refused. With no
// allowed prefixes every request is refused. [netip.ParsePrefix] builds the
// list from strings.
func AllowIPs(allowed, trustedProxies []netip.Prefix) func(http.Handler) http.Handler {
	trusted := normalizePrefixes(trustedProxies)
	allowed = normalizePrefixes(allowed)
	return func(next http.Handler) http.Handler {
		if next == nil {
			next = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			client, ok := clientAddr(r, trusted)
			if !ok || !containsAddr(allowed, client) {
				http.Error(w, "source address not allowed", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// normalizePrefixes returns a copy of ps with each prefix normalised and the
// invalid ones (such as the zero Prefix) left out.
func normalizePrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p = normalizePrefix(p); p.IsValid() {
			out = append(out, p)
		}
	}
	return out
}

// normalizePrefix masks p and turns an IPv4-mapped prefix of /96 or longer
// into the IPv4 prefix it covers, since addresses are unmapped before they
// are matched. An invalid p stays invalid.
func normalizePrefix(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr finds the address to judge: the peer, or, when the peer is a
// trusted proxy, the rightmost untrusted X-Forwarded-For entry. ok is false
// when that address cannot be determined.
func clientAddr(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, ok := parseHostAddr(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if len(trusted) == 0 || !containsAddr(trusted, peer) {
		return peer, true
	}
	client := peer
	hops := 0
	// The header lines form one list, in order: walk them from the last,
	// and each line from its last entry.
	lines := r.Header.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		if strings.TrimSpace(line) == "" {
			continue
		}
		for end := len(line); end >= 0; {
			start := strings.LastIndexByte(line[:end], ',') + 1
			entry := strings.TrimSpace(line[start:end])
			end = start - 1
			if hops++; hops > maxForwardedHops || len(entry) > maxAddrLen {
				return netip.Addr{}, false
			}
			a, ok := parseHostAddr(entry)
			if !ok {
				return netip.Addr{}, false
			}
			if !containsAddr(trusted, a) {
				return a, true
			}
			client = a
		}
	}
	// Every hop was a trusted proxy: the request started among them.
	return client, true
}

// parseHostAddr parses an address as it appears in RemoteAddr or
// X-Forwarded-For: "ip", "ip:port", "[ipv6]" or "[ipv6]:port". The result
// has no zone and is unmapped.
func parseHostAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(s)
		switch {
		case err2 == nil:
			a = ap.Addr()
		case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']':
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return netip.Addr{}, false
			}
		default:
			return netip.Addr{}, false
		}
	}
	return a.WithZone("").Unmap(), true
}
