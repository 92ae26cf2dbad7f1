package main

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/version"
	"github.com/heraldhq/herald/internal/wire"
)

const signDoc = `Sign prints the headers herald would send with the body, one "Name: value"
a line, sorted by name: the scheme's authentication headers, webhook-id,
Content-Type and User-Agent. A jwt signs --topic as its topic claim; the
other schemes do not carry a topic (put it in the body, which is signed).

The body is read from BODYFILE, from standard input for "-", or is empty when
neither is given. The output is a valid --headers file for herald verify.
Without --id a new UUIDv7 is used; without --timestamp, the current time.

` + schemeHelp

// schemeHelp explains the scheme flags; it ends the doc of every command that
// takes them.
const schemeHelp = `Scheme flags: --scheme picks the scheme; --secret VALUE, env:NAME or @FILE
gives an HMAC secret (repeat to rotate); --key and --pubkey give asymmetric
keys for standard-v1a (whsk_/whpk_) and jwt (PEM, JWKS).`

const signExample = `herald sign --secret @secret.txt --id msg_1 body.json > headers.txt
echo '{"a":1}' | herald sign --scheme hub --secret env:HUB_SECRET -
herald sign --scheme jwt --key signing.key --url https://example.com/hook body.json`

// runSign implements "herald sign".
func runSign(args []string, stdout, stderr io.Writer) int {
	fs, sf := newSchemeFlagSet("sign", "herald sign [scheme flags] [--id ID] [--timestamp UNIX] [--url URL] [--topic T] [BODYFILE|-]", signDoc, signExample)
	id := fs.String("id", "", "delivery `id` (default: a new UUIDv7)")
	ts := fs.Int64("timestamp", 0, "signing time in Unix seconds (default: now)")
	url := fs.String("url", "", "target `URL` (jwt: the default audience)")
	topic := fs.String("topic", "", "event `topic` (signed as the topic claim by jwt)")
	contentType := fs.String("content-type", "application/json", "Content-Type of the body")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 1 {
		return usageErr(stderr, "sign", "too many arguments: want at most one BODYFILE")
	}
	if *ts < 0 {
		return usageErr(stderr, "sign", "--timestamp must not be negative")
	}
	signer, err := sf.signer()
	if err != nil {
		return usageErr(stderr, "sign", "%v", err)
	}
	body, err := readBody(firstArg(fs))
	if err != nil {
		return usageErr(stderr, "sign", "%v", err)
	}
	if *id == "" {
		if *id, err = newID(); err != nil {
			return failure(stderr, "sign", err)
		}
	} else if err := wire.CheckID(*id); err != nil {
		// The id travels as the webhook-id header: refuse what a Sender
		// would refuse to send.
		return usageErr(stderr, "sign", "--id: %v", err)
	}
	// Content-Type is printed as a header line: a line break in it would
	// forge another. Refuse what a Sender would refuse to send.
	if len(*contentType) > wire.MaxIDLen {
		return usageErr(stderr, "sign", "--content-type is longer than %d bytes", wire.MaxIDLen)
	} else if err := wire.CheckHeader("Content-Type", *contentType); err != nil {
		return usageErr(stderr, "sign", "--content-type: %v", err)
	}
	m := auth.Message{ID: *id, Body: body, URL: *url, Topic: *topic}
	if *ts > 0 {
		m.Timestamp = time.Unix(*ts, 0)
	}
	h := http.Header{}
	h.Set("Content-Type", *contentType)
	h.Set("User-Agent", "herald/"+version.Version)
	h.Set("Webhook-Id", *id)
	if err := signer.Sign(h, m); err != nil {
		return failure(stderr, "sign", err)
	}
	if err := writeHeaders(stdout, h); err != nil {
		return failure(stderr, "sign", err)
	}
	return exitOK
}

// firstArg returns the first positional argument, or "".
func firstArg(fs *flagSet) string {
	if fs.NArg() == 0 {
		return ""
	}
	return fs.Args()[0]
}

// newID returns a new delivery id, a UUIDv7 as package sender makes them.
func newID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("cannot make a delivery id: %w", err)
	}
	return u.String(), nil
}

// writeHeaders writes h as "Name: value" lines, sorted by name, one line per
// value.
func writeHeaders(w io.Writer, h http.Header) error {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		for _, v := range h[name] {
			fmt.Fprintf(&b, "%s: %s\n", name, v)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
