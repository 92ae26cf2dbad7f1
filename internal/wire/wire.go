// Package wire holds herald's one rule for each piece of text that travels
// in an HTTP header: a delivery id (webhook-id, the JWT jti) and a header
// name and value. auth, sender, outbox and cmd/herald check with it, so that
// what one of them accepts the others send. Errors give the reason only,
// never the text checked, which may be a credential; callers wrap them with
// their package's prefix and sentinel. It also holds the one rule for
// names and ids that show in logs ([Displayable]) and the stores' one way
// of keeping a time as an int64 ([Nanos]).
package wire

import (
	"errors"
	"fmt"
	"strings"
)

// MaxIDLen bounds a delivery id, in bytes.
const MaxIDLen = 256

// CheckID reports whether id can be a delivery id: 1 to [MaxIDLen] bytes of
// printable ASCII without spaces, so that it fits the webhook-id header and
// the signed content of every scheme.
func CheckID(id string) error {
	if id == "" {
		return errors.New("empty id")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("id longer than %d bytes", MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("id holds a space, control or non-ASCII byte at offset %d", i)
		}
	}
	return nil
}

// CheckHeader reports whether name and value can be sent as an HTTP header
// field of a message: name an RFC 9110 token and not a header of the
// connection (connectionHeaders), value free of control bytes other than
// horizontal tab (so no CR, LF or NUL that could split or end the header).
func CheckHeader(name, value string) error {
	if !IsToken(name) {
		return errors.New("invalid header name")
	}
	for _, c := range connectionHeaders {
		if strings.EqualFold(name, c) {
			return fmt.Errorf("%s belongs to the connection, not the message", c)
		}
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7f {
			return errors.New("header value holds a control byte such as a line break or NUL")
		}
	}
	return nil
}

// connectionHeaders are the headers of the connection rather than of the
// message (hop-by-hop, RFC 9110 section 7.6.1). net/http sets them itself,
// and over HTTP/2 refuses to send a request that carries one: every
// attempt would fail as a network error.
var connectionHeaders = []string{"Connection", "Upgrade", "Transfer-Encoding", "TE"}

// IsToken reports whether s is a non-empty RFC 9110 token, the syntax of a
// header name and of a method.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return true
}

// tokenByte marks the bytes a token may hold.
var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
