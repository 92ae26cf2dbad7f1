package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/sender"
)

const sendDoc = `Send delivers one signed webhook to URL through package sender, exactly as an
application using herald would: HTTPS only, retries with backoff on network
errors, 408, 425, 429, 500, 502, 503 and 504, a fresh signature on every attempt, the same
webhook-id throughout, no redirects followed, and a guard that refuses
private, loopback and link-local addresses after DNS resolution.

URL may be given as @FILE (the file's content) or env:NAME (the environment
variable's value), so that a token in it, as Slack and Discord webhook URLs
carry in their path, stays out of ps.

The body is read from BODYFILE, from standard input for "-", or is empty when
neither is given. Send prints one JSON line:

  {"id":"…","status":204,"attempts":1,"latency_ms":12,"error":null}

and exits 0 only when the destination answered 2xx, else 1.

--allow-private turns the address guard off entirely (it allows 0.0.0.0/0 and
::/0): use it only to reach a receiver on this machine or your own network.
--insecure-http allows http:// URLs. --cacert trusts only the given CA
certificates (PEM), as curl --cacert does, e.g. the one listen --cert-out
writes. --client-cert and --client-key present a client certificate (PEM
files) to a receiver that requires mutual TLS.

` + schemeHelp

const sendExample = `herald send --secret @secret.txt https://example.com/hook body.json
herald send --secret @secret.txt --cacert cert.pem --allow-private https://127.0.0.1:8443/ body.json
herald send --scheme jwt --key signing.key --topic job:ready --header 'X-Env: test' https://example.com/hook -`

// sendResult is the JSON line that send prints.
type sendResult struct {
	ID        string  `json:"id"`
	Status    int     `json:"status"`
	Attempts  int     `json:"attempts"`
	LatencyMS int64   `json:"latency_ms"`
	Error     *string `json:"error"`
}

// runSend implements "herald send".
func runSend(args []string, stdout, stderr io.Writer) int {
	fs, sf := newSchemeFlagSet("send", "herald send [scheme flags] [--header 'Name: value']... [--topic T] [--id ID] [--cacert FILE] [--client-cert FILE --client-key FILE] [--allow-private] [--insecure-http] [--retries N] [--timeout D] URL [BODYFILE|-]", sendDoc, sendExample)
	var headers stringList
	fs.Var(&headers, "header", headerFlagHelp)
	topic := fs.String("topic", "", "event `topic` (signed as the topic claim by jwt)")
	id := fs.String("id", "", "delivery `id` (default: a new UUIDv7)")
	contentType := fs.String("content-type", "application/json", "Content-Type of the body")
	var df deliveryFlags
	df.register(fs)
	clientCert := fs.String("client-cert", "", "present the client certificate chain in this PEM `file` (mutual TLS)")
	clientKey := fs.String("client-key", "", "the private key of --client-cert, a PEM `file`")
	retries := fs.Int("retries", 4, "retries after the first attempt")
	timeout := fs.Duration("timeout", time.Minute, "give up on the delivery, retries included, after this `duration`")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	switch {
	case fs.NArg() == 0:
		return usageErr(stderr, "send", "missing URL")
	case fs.NArg() > 2:
		return usageErr(stderr, "send", "too many arguments: want URL [BODYFILE|-]")
	case *retries < 0:
		return usageErr(stderr, "send", "--retries must not be negative")
	case *timeout <= 0:
		return usageErr(stderr, "send", "--timeout must be positive")
	}
	signer, err := sf.signer()
	if err != nil {
		return usageErr(stderr, "send", "%v", err)
	}
	extra, err := parseHeaderFlags(headers)
	if err != nil {
		return usageErr(stderr, "send", "%v", err)
	}
	destURL, err := urlArg("URL", fs.Args()[0])
	if err != nil {
		return usageErr(stderr, "send", "%v", err)
	}
	var bodyArg string
	if fs.NArg() == 2 {
		bodyArg = fs.Args()[1]
	}
	body, err := readBody(bodyArg)
	if err != nil {
		return usageErr(stderr, "send", "%v", err)
	}
	s := &sender.Sender{Retry: sender.RetryPolicy{MaxAttempts: *retries + 1, MaxElapsed: *timeout}}
	if *timeout < 30*time.Second {
		s.AttemptTimeout = *timeout
	}
	if err := df.apply(s); err != nil {
		return usageErr(stderr, "send", "%v", err)
	}
	defer s.CloseIdleConnections()
	dest := sender.Destination{URL: destURL, Signer: signer, Headers: extra}
	if *clientCert != "" || *clientKey != "" {
		if dest.ClientCert, err = loadClientCert(*clientCert, *clientKey, "--client-cert", "--client-key"); err != nil {
			return usageErr(stderr, "send", "%v", err)
		}
	}
	return sendOne(s, dest, sender.Message{ID: *id, Topic: *topic, Body: body, ContentType: *contentType}, *timeout, stdout, stderr)
}

// sendOne checks dest, sends msg to it within timeout, cut short by a
// signal, and prints the result as a JSON line.
func sendOne(s *sender.Sender, dest sender.Destination, msg sender.Message, timeout time.Duration, stdout, stderr io.Writer) int {
	if err := s.Validate(dest); err != nil {
		if !errors.Is(err, sender.ErrBlockedAddr) {
			return usageErr(stderr, "send", "%v%s", err, validationHint(err))
		}
		// Send reports it as a failed delivery; add the way out. The
		// host may hold C1 or bidi characters (an IPv6 zone): escaped.
		fmt.Fprintf(stderr, "herald send: %s%s\n", escapeText(err.Error()), validationHint(err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := s.Send(ctx, dest, msg)
	out := sendResult{ID: res.ID, Status: res.Status, Attempts: res.Attempts, LatencyMS: res.Latency.Milliseconds()}
	if err != nil {
		text := err.Error()
		out.Error = &text
	}
	line, jerr := wire.EscapedJSON(out)
	if jerr != nil {
		return failure(stderr, "send", jerr)
	}
	fmt.Fprintf(stdout, "%s\n", line)
	if err != nil || res.Status < 200 || res.Status > 299 {
		return exitFail
	}
	return exitOK
}

// urlArg resolves a destination URL given as @FILE or env:NAME, as a
// secret is (resolveSecret), so that a token in its path or query (a Slack
// or Discord webhook URL) stays out of ps; any other value is the URL.
// The spaces around it are dropped. Errors, prefixed with what, quote
// neither the value nor the file's name.
func urlArg(what, v string) (string, error) {
	if !strings.HasPrefix(v, "@") && !strings.HasPrefix(v, "env:") {
		return v, nil
	}
	u, err := resolveSecret(v)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return strings.TrimSpace(u), nil
}

// headerFlagHelp is the help of send's and relay's --header.
const headerFlagHelp = "extra request `header` \"Name: value\"; a value @FILE is read from the file (its trailing newline dropped), so that a token stays out of ps; write a value that starts with @ as @@; repeatable"

// netHTTPHeaders are the headers that net/http writes itself, ignoring
// those of the request's Header: a --header with one would not be sent.
var netHTTPHeaders = []string{"Host", "Content-Length", "Trailer"}

// parseHeaderFlags parses --header "Name: value" flags. A value @FILE is
// the content of FILE, as a --secret @FILE is (resolveSecret), without
// the spaces and tabs around it, which no receiver would read as part of
// the value; @@ starts a literal value with @. Errors quote neither a
// value nor a file's name.
func parseHeaderFlags(list []string) (http.Header, error) {
	h := http.Header{}
	for i, s := range list {
		name, value, ok := strings.Cut(s, ":")
		// Around the value, only what HTTP takes for white space: the
		// value is sent as it reads here.
		name, value = strings.TrimSpace(name), strings.Trim(value, " \t")
		if !ok || !wire.IsToken(name) {
			// Not quoted: the value may be a credential.
			return nil, fmt.Errorf("--header #%d: want \"Name: value\"", i+1)
		}
		if literal, ok := strings.CutPrefix(value, "@@"); ok {
			value = "@" + literal
		} else if strings.HasPrefix(value, "@") {
			var err error
			if value, err = resolveSecret(value); err != nil {
				return nil, fmt.Errorf("--header %s: %w", name, err)
			}
			value = strings.Trim(value, " \t")
		}
		if err := wire.CheckHeader(name, value); err != nil {
			return nil, fmt.Errorf("--header %s: %w", name, err)
		}
		if slices.Contains(netHTTPHeaders, http.CanonicalHeaderKey(name)) {
			return nil, fmt.Errorf("--header %s: net/http sets it from the URL and the body, and would not send this one", name)
		}
		h.Add(name, value)
	}
	return h, nil
}
