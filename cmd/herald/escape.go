package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What herald prints comes partly from others: ids, key ids, claims and
// topics from signed requests (a valid signature says who sent them, not
// that they are harmless), error texts that quote them. Printed raw, an ESC
// sequence recolours or rewrites the terminal, a CR hides what came before
// it on the line, a bidi control reorders it. So every such string goes
// through one of the functions below, and every argument that looks like
// key material is kept out of messages.

// field returns s as one token of a "name=value" summary line: as it is
// when it is plain printable text, else quoted as Go quotes strings (so a
// space, '=', '"' or '\' cannot forge another field, and control, C1 and
// bidi characters show as \x1b, \r, \u202e).
func field(s string) string {
	for _, r := range s {
		if r == ' ' || r == '=' || r == '"' || r == '\\' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	return s
}

// escapeText returns s with every character that is not printable
// (unicode.IsPrint: control characters, DEL, C1 controls, bidi and other
// format characters, line and paragraph separators) and every invalid
// UTF-8 byte written as a Go escape (\x1b, \r, \u202e), for messages that
// may quote what a request carried.
func escapeText(s string) string {
	if isPrintable(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// isPrintable reports whether s is valid UTF-8 made of printable
// characters only.
func isPrintable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}

// escapingWriter escapes what is written through it with escapeText, line
// by line; for log output (http.Server's ErrorLog) that may quote a client.
type escapingWriter struct{ w io.Writer }

// Write escapes p, keeping its line breaks, and writes it.
func (e escapingWriter) Write(p []byte) (int, error) {
	lines := bytes.SplitAfter(p, []byte("\n"))
	var b strings.Builder
	for _, l := range lines {
		text, nl := bytes.CutSuffix(l, []byte("\n"))
		b.WriteString(escapeText(string(text)))
		if nl {
			b.WriteByte('\n')
		}
	}
	if _, err := io.WriteString(e.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// looksSecret reports whether s, an argument meant as a file name, a URL,
// a command or an action, looks like key material instead: a Standard
// Webhooks or Stripe secret or key (whsec_, whsk_, whpk_), a PEM block, a
// JSON Web Key, or a run of 32 or more letters and digits (base64url or
// hex, without a '.' or '/') such as keygen prints for hub and jwt HS*
// secrets, or standard base64 with a '/' (a whsec_ secret without its
// prefix) that mixes upper and lower case and digits and has no '.' and
// no leading '/'. Such an argument is never echoed; a path it catches by
// mistake is only left unnamed.
func looksSecret(s string) bool {
	t := strings.TrimSpace(s)
	for _, p := range []string{"whsec_", "whsk_", "whpk_", "sk_live_", "sk_test_", "{", "-----BEGIN"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	if strings.Contains(t, "-----BEGIN") || strings.Contains(t, "PRIVATE KEY") {
		return true
	}
	if len(t) < 32 {
		return false
	}
	digit, lower, upper, slash := false, false, false, false
	for _, r := range t {
		switch {
		case 'a' <= r && r <= 'z':
			lower = true
		case 'A' <= r && r <= 'Z':
			upper = true
		case '0' <= r && r <= '9':
			digit = true
		case r == '/':
			slash = true
		case r == '+', r == '=', r == '-', r == '_':
		default:
			return false // a '.', a space: a file name, a sentence
		}
	}
	if slash {
		return t[0] != '/' && digit && lower && upper
	}
	return digit && (lower || upper)
}

// showArg returns an argument for a message: quoted and escaped, or a
// placeholder when it looks like key material.
func showArg(s string) string {
	if looksSecret(s) {
		return "(an argument that looks like a key; not shown)"
	}
	return strconv.Quote(s)
}

// hideSecretArgs replaces in msg, a message of package flag that may quote
// a value, every argument of args (or value of a --flag=value argument)
// that looks like key material.
func hideSecretArgs(msg string, args []string) string {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		for _, v := range []string{a, a[strings.IndexByte(a, '=')+1:]} {
			if v != "" && looksSecret(v) {
				msg = strings.ReplaceAll(msg, v, "(a value that looks like a key; not shown)")
			}
		}
	}
	return msg
}
