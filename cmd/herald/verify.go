package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/wire"
)

const verifyDoc = `Verify checks a captured request: the headers in the --headers file against
the body in BODYFILE (standard input for "-", empty when not given).

The headers file holds "Name: value" lines, as herald sign prints them; blank
lines, lines starting with "#" and an HTTP request line ("POST /hook HTTP/1.1")
are skipped. It is read from standard input for "--headers -".

Exit status 0 when the request is valid (a one-line summary is printed: scheme,
id, key, time), 1 when it is not (the reason goes to standard error, never an
expected signature), 2 for a usage error. To check a request captured long ago,
set --now to a Unix time near its timestamp, or widen --tolerance.

` + schemeHelp

const verifyExample = `herald verify --secret @secret.txt --headers headers.txt body.json
herald verify --scheme standard-v1a --pubkey whpk_... --headers h.txt --now 1700000000 body.json
herald verify --scheme jwt --pubkey jwks.json --audience https://example.com/hook --headers h.txt body.json`

// runVerify implements "herald verify".
func runVerify(args []string, stdout, stderr io.Writer) int {
	fs, sf := newSchemeFlagSet("verify", "herald verify [scheme flags] --headers FILE [--now UNIX] [BODYFILE|-]", verifyDoc, verifyExample)
	headersFile := fs.String("headers", "", "`file` of \"Name: value\" header lines (- for standard input)")
	now := fs.Int64("now", 0, "verify as if the time were this Unix time (default: now)")
	fs.BoolVar(&sf.allowMissingExp, "allow-missing-exp", false, "jwt: accept tokens without an exp claim")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 1 {
		return usageErr(stderr, "verify", "too many arguments: want at most one BODYFILE")
	}
	if *headersFile == "" {
		return usageErr(stderr, "verify", "missing --headers FILE")
	}
	if *headersFile == "-" && firstArg(fs) == "-" {
		return usageErr(stderr, "verify", "the headers and the body cannot both come from standard input")
	}
	if *now < 0 {
		return usageErr(stderr, "verify", "--now must not be negative")
	}
	if *now > 0 {
		t := time.Unix(*now, 0)
		sf.clock = func() time.Time { return t }
	}
	v, err := sf.verifier()
	if err != nil {
		return usageErr(stderr, "verify", "%v", err)
	}
	h, err := readHeadersFile(*headersFile)
	if err != nil {
		return usageErr(stderr, "verify", "%v", err)
	}
	body, err := readBody(firstArg(fs))
	if err != nil {
		return usageErr(stderr, "verify", "%v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a JWKS fetch takes at most 10s
	defer cancel()
	res, err := verify(ctx, v, h, body)
	if err != nil {
		fmt.Fprintf(stderr, "herald verify: invalid: %s\n", escapeText(err.Error()))
		return exitFail
	}
	fmt.Fprintln(stdout, summary(res))
	return exitOK
}

// verify checks h and body with v, through VerifyContext when v has it (a
// JWT, whose key set may fetch).
func verify(ctx context.Context, v auth.Verifier, h http.Header, body []byte) (auth.Verified, error) {
	if cv, ok := v.(interface {
		VerifyContext(context.Context, http.Header, []byte) (auth.Verified, error)
	}); ok {
		return cv.VerifyContext(ctx, h, body)
	}
	return v.Verify(h, body)
}

// summary describes a verified request on one line. What the request
// carried (id, key id, topic) is written with field, so that it can
// neither drive the terminal nor forge another field.
func summary(res auth.Verified) string {
	var b strings.Builder
	fmt.Fprintf(&b, "valid scheme=%s id=%s key=%s", field(res.Scheme), field(orDash(res.ID)), field(orDash(res.KeyID)))
	if !res.Timestamp.IsZero() {
		fmt.Fprintf(&b, " time=%s", res.Timestamp.UTC().Format(time.RFC3339))
	}
	if t, ok := res.Claims["topic"].(string); ok && t != "" {
		fmt.Fprintf(&b, " topic=%s", field(t))
	}
	return b.String()
}

// orDash returns s, or "-" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readHeadersFile reads a headers file ("-" for standard input).
func readHeadersFile(name string) (http.Header, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = readLimited(stdin, "--headers from standard input", maxHeadersFile)
	} else {
		data, err = readFileLimited(name, "--headers file", maxHeadersFile)
	}
	if err != nil {
		return nil, err
	}
	h, err := parseHeaders(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fileLabel("--headers file", name), err)
	}
	return h, nil
}

// parseHeaders parses "Name: value" lines. Errors give the line number but
// not the line, which may hold a signature or a token.
func parseHeaders(data []byte) (http.Header, error) {
	h := http.Header{}
	first := true
	for i, line := range bytes.Split(data, []byte("\n")) {
		s := strings.TrimRight(string(line), "\r")
		if strings.TrimSpace(s) == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if first && isRequestLine(s) {
			first = false
			continue
		}
		first = false
		name, value, ok := strings.Cut(s, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: want \"Name: value\", found no colon", i+1)
		}
		if !wire.IsToken(name) {
			return nil, fmt.Errorf("line %d: invalid header name (want \"Name: value\")", i+1)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	if len(h) == 0 {
		return nil, errors.New("no headers found (want \"Name: value\" lines)")
	}
	return h, nil
}

// isRequestLine reports whether s looks like "METHOD /path HTTP/1.1".
func isRequestLine(s string) bool {
	f := strings.Fields(s)
	return len(f) == 3 && wire.IsToken(f[0]) && strings.HasPrefix(f[2], "HTTP/")
}
