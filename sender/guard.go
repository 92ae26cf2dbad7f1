package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
)

// ErrBlockedAddr: the destination's address is private, loopback,
// link-local, reserved or otherwise not public, and not in
// [Sender.AllowNetworks]. Checked after DNS resolution, at dial time.
var ErrBlockedAddr = errors.New("address not allowed")

// blockedRange is one range of addresses that deliveries may not reach.
type blockedRange struct {
	prefix netip.Prefix
	reason string
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// blocked lists the ranges that are not public unicast (IANA
// special-purpose registries, RFC 6890 and successors), and the one public
// address a cloud gives its machines their configuration on. A prefix holds
// addresses of its own family only, so one table serves both. Of IPv6 it
// lists the ranges inside global unicast 2000::/3: everything outside is
// refused anyway, except the forms that embed an IPv4 address, which are
// unwrapped and checked as IPv4.
var blocked = []blockedRange{
	{mustPrefix("0.0.0.0/8"), "a this-network address"},
	{mustPrefix("10.0.0.0/8"), "a private (RFC 1918) address"},
	{mustPrefix("100.64.0.0/10"), "a shared (CGNAT) address"},
	{mustPrefix("127.0.0.0/8"), "a loopback address"},
	// Not special-purpose, but no receiver: Azure's platform endpoint
	// (WireServer), which every Azure VM reaches and which answers it
	// with its configuration, as 169.254.169.254 does elsewhere.
	{mustPrefix("168.63.129.16/32"), "Azure's platform address (WireServer)"},
	{mustPrefix("169.254.0.0/16"), "a link-local address (cloud metadata)"},
	{mustPrefix("172.16.0.0/12"), "a private (RFC 1918) address"},
	{mustPrefix("192.0.0.0/24"), "an IETF protocol assignment"},
	{mustPrefix("192.0.2.0/24"), "a documentation address"},
	{mustPrefix("192.88.99.0/24"), "a 6to4 relay anycast address"},
	{mustPrefix("192.168.0.0/16"), "a private (RFC 1918) address"},
	{mustPrefix("198.18.0.0/15"), "a benchmarking address"},
	{mustPrefix("198.51.100.0/24"), "a documentation address"},
	{mustPrefix("203.0.113.0/24"), "a documentation address"},
	{mustPrefix("224.0.0.0/4"), "a multicast address"},
	{mustPrefix("240.0.0.0/4"), "a reserved or broadcast address"},

	{mustPrefix("2001::/32"), "a Teredo tunnel address"},
	{mustPrefix("2001:2::/48"), "a benchmarking address"},
	{mustPrefix("2001:10::/28"), "an ORCHID address"},
	{mustPrefix("2001:db8::/32"), "a documentation address"},
	{mustPrefix("3fff::/20"), "a documentation address"},
}

var (
	globalUnicastV6 = mustPrefix("2000::/3")
	nat64WellKnown  = mustPrefix("64:ff9b::/96")
	nat64Local      = mustPrefix("64:ff9b:1::/48")
	sixToFour       = mustPrefix("2002::/16")
	ipv4Compatible  = mustPrefix("::/96")
	ipv4Translated  = mustPrefix("::ffff:0:0:0/96")
)

// unwrapV4 returns the IPv4 address embedded in an IPv4-mapped,
// IPv4-compatible, IPv4-translated, NAT64 (64:ff9b::/96) or 6to4 address,
// with a word naming the wrapping.
func unwrapV4(a netip.Addr) (netip.Addr, string, bool) {
	if a.Is4In6() {
		return a.Unmap(), "IPv4-mapped IPv6", true
	}
	if !a.Is6() {
		return netip.Addr{}, "", false
	}
	b := a.As16()
	switch {
	case nat64WellKnown.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), "NAT64 IPv6", true
	case ipv4Translated.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), "IPv4-translated IPv6", true
	case ipv4Compatible.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), "IPv4-compatible IPv6", true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), "6to4 IPv6", true
	}
	return netip.Addr{}, "", false
}

// blockReason reports why a may not be reached, or "" when it is public.
func blockReason(a netip.Addr) string {
	a = a.WithZone("")
	if !a.IsValid() {
		return "an invalid address"
	}
	if v4, how, ok := unwrapV4(a); ok {
		if r := listedReason(v4); r != "" {
			return r + " wrapped as " + how
		}
		return ""
	}
	if a.Is4() {
		return listedReason(a)
	}
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.IsMulticast():
		return "a multicast address"
	case a.IsPrivate():
		return "a unique local (ULA) address"
	case nat64Local.Contains(a):
		return "a local-use NAT64 address"
	case !globalUnicastV6.Contains(a):
		return "a reserved address (outside 2000::/3)"
	}
	return listedReason(a)
}

// listedReason returns the reason of the range of [blocked] that holds a,
// "" when none does.
func listedReason(a netip.Addr) string {
	for _, r := range blocked {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	return ""
}

// allowed reports whether a, or the IPv4 address it wraps, lies in one of
// the allowed prefixes.
func allowed(a netip.Addr, allow []netip.Prefix) bool {
	if len(allow) == 0 {
		return false
	}
	a = a.WithZone("")
	v4, _, wrapped := unwrapV4(a)
	for _, p := range allow {
		if p.Contains(a) || (wrapped && p.Contains(v4)) {
			return true
		}
	}
	return false
}

// checkAddr returns an error wrapping [ErrBlockedAddr] when a may not be
// reached. host is the name that led to a, for the message.
func checkAddr(host string, a netip.Addr, allow []netip.Prefix) error {
	reason := blockReason(a)
	if reason == "" || allowed(a, allow) {
		return nil
	}
	what := a.String() + " is "
	if host != "" && host != a.String() {
		what = host + " resolves to " + a.String() + ", which is "
	}
	return fmt.Errorf("%w: %s%s; to reach it anyway, add a prefix containing it to Sender.AllowNetworks", ErrBlockedAddr, what, reason)
}

// guardDialer dials only addresses that pass checkAddr. It resolves the
// host itself and dials the very addresses it checked, so that a DNS answer
// that changes between check and connect (rebinding) cannot slip through.
type guardDialer struct {
	dialer   net.Dialer
	resolver func(ctx context.Context, network, host string) ([]netip.Addr, error)
	allow    []netip.Prefix
	logger   *slog.Logger // the Sender's, for a resolver's panic; nil: slog.Default
}

// DialContext resolves, checks every address, then dials the checked ones
// in turn until one connects.
func (g *guardDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: bad port", ErrInvalidURL)
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		lookup := "ip"
		switch network {
		case "tcp4":
			lookup = "ip4"
		case "tcp6":
			lookup = "ip6"
		}
		addrs, err = g.resolve(ctx, lookup, host)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	// Every address must pass: a name that mixes public and private
	// answers is refused as a whole.
	for _, a := range addrs {
		if err := checkAddr(host, a, g.allow); err != nil {
			return nil, err
		}
	}
	var errs []error
	for _, a := range addrs {
		c, err := g.dialer.DialContext(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// resolve calls the resolver (Sender.LookupNetIP, the user's code), which
// net/http calls from a goroutine of its own: a panic there would end the
// process, out of reach of the caller of Send. It is recovered, logged at
// Error with its stack, and fails the dial.
func (g *guardDialer) resolve(ctx context.Context, network, host string) (addrs []netip.Addr, err error) {
	defer func() {
		if p := recover(); p != nil {
			l := g.logger
			if l == nil {
				l = slog.Default()
			}
			l.LogAttrs(ctx, slog.LevelError, "sender: panic in LookupNetIP recovered",
				slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
			addrs, err = nil, &net.DNSError{Err: "Sender.LookupNetIP panicked", Name: host}
		}
	}()
	return g.resolver(ctx, network, host)
}
