package main

import (
	"strconv"
	"strings"
)

// A secret or key typed where a file name, a command or another value
// belongs must not be echoed back: every argument that looks like key
// material is kept out of messages.

// looksSecret reports whether s, an argument meant as a file name, a URL,
// a command or an action, looks like key material instead: a Standard
// Webhooks or Stripe secret or key (whsec_, whsk_, whpk_), a PEM block, a
// JSON Web Key, or a run of 32 or more letters and digits (base64url or
// hex, without a '.' or '/') such as keygen prints for hub and jwt HS*
// secrets. Such an argument is never echoed.
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
	digit, letter := false, false
	for _, r := range t {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			letter = true
		case '0' <= r && r <= '9':
			digit = true
		case r == '+', r == '=', r == '-', r == '_':
		default:
			return false // a '.', a '/', a space: a file name, a sentence
		}
	}
	return digit && letter
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
