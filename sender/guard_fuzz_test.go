package sender

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// localUse reports whether a, or an IPv4 address it embeds, is one the
// standard library itself calls loopback, private, unspecified,
// link-local or multicast: what the address guard must refuse whatever
// else it refuses.
func localUse(a netip.Addr) bool {
	a = a.WithZone("")
	as := []netip.Addr{a.Unmap()}
	b := a.As16()
	for _, p := range []string{"::/96", "64:ff9b::/96", "::ffff:0:0:0/96"} {
		if a.Is6() && netip.MustParsePrefix(p).Contains(a) {
			as = append(as, netip.AddrFrom4([4]byte(b[12:16])))
		}
	}
	if a.Is6() && netip.MustParsePrefix("2002::/16").Contains(a) {
		as = append(as, netip.AddrFrom4([4]byte(b[2:6])))
	}
	for _, x := range as {
		if x.IsLoopback() || x.IsPrivate() || x.IsUnspecified() || x.IsLinkLocalUnicast() ||
			x.IsLinkLocalMulticast() || x.IsInterfaceLocalMulticast() || x.IsMulticast() {
			return true
		}
	}
	return false
}

// FuzzDestinationURL: a destination URL (or token URL) may come from a
// tenant. Validate and Send's parse agree on every URL; a refusal matches
// ErrInvalidURL, ErrInsecureURL or ErrBlockedAddr and quotes neither the
// URL's password nor its query; an accepted URL is https (or http when
// allowed) with a host, and a literal IP host is never one the standard
// library calls loopback, private, unspecified, link-local or multicast,
// however it is written (IPv4-mapped, zoned, NAT64, 6to4...). The same
// holds of the address guard for any 4 or 16 bytes, as the dialer checks
// resolved addresses.
func FuzzDestinationURL(f *testing.F) {
	for _, u := range []string{
		"https://hooks.example/x?token=SEKRETSEKRET", "http://hooks.example/", "https://127.0.0.1/", "https://[::1]:443/",
		"https://[::ffff:127.0.0.1]/", "https://[fe80::1%25eth0]/", "https://[64:ff9b::a00:1]/", "https://[2002:a00:1::]/",
		"https://[::a00:1]/", "https://0x7f.0.0.1/", "https://2130706433/", "https://user:SEKRETSEKRET@10.0.0.1/",
		"HTTPS://169.254.169.254/latest", "https://[::]/", "https://:443/", "https:///x", "https://a\x00b/",
		"https://host:99999/", "https://h\r\nX: y/", "https://\xff/", "//hooks.example/", "https://8.8.8.8/",
	} {
		f.Add(u, []byte{}, false)
	}
	f.Add("", []byte{127, 0, 0, 1}, true)
	f.Add("", []byte{0x20, 0x02, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Add("", []byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, false)
	strict, lax := &Sender{}, &Sender{AllowHTTP: true}
	f.Fuzz(func(t *testing.T, raw string, ip []byte, allowHTTP bool) {
		s := strict
		if allowHTTP {
			s = lax
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			if err := checkAddr("", a, nil); err == nil && localUse(a) {
				t.Fatalf("the guard lets %s through", a)
			} else if err != nil && !errors.Is(err, ErrBlockedAddr) {
				t.Fatalf("%s refused without ErrBlockedAddr: %v", a, err)
			}
		}
		verr := s.Validate(Destination{URL: raw})
		_, _, perr := s.parseURL(raw)
		if (verr == nil) != (perr == nil) {
			t.Fatalf("%q: Validate says %v, Send's parse %v", raw, verr, perr)
		}
		u, uerr := url.Parse(raw)
		if verr != nil {
			if !errors.Is(verr, ErrInvalidURL) && !errors.Is(verr, ErrInsecureURL) && !errors.Is(verr, ErrBlockedAddr) {
				t.Fatalf("%q: refused without a sentinel: %v", raw, verr)
			}
			if uerr == nil {
				pw, _ := u.User.Password()
				for _, secret := range []string{pw, u.RawQuery} {
					if len(secret) >= 8 && (strings.Contains(verr.Error(), secret) || strings.Contains(perr.Error(), secret)) {
						t.Fatalf("%q: the error quotes %q: %v", raw, secret, verr)
					}
				}
			}
			return
		}
		if uerr != nil || u.Hostname() == "" || !strings.EqualFold(u.Scheme, "https") && !(allowHTTP && strings.EqualFold(u.Scheme, "http")) {
			t.Fatalf("%q accepted: scheme %q, host %q", raw, u.Scheme, u.Hostname())
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && localUse(a) {
			t.Fatalf("%q accepted: its host %s is local", raw, a)
		}
	})
}
