// Package sender delivers signed webhooks over HTTPS: one delivery at a time
// with in-process retries ([Sender.Send]), refusing private addresses after
// DNS resolution, and never following redirects.
package sender

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/heraldhq/herald/auth"
)

// Destination is where deliveries go, configured in code.
type Destination struct {
	// Name identifies the destination in logs, results and metrics.
	Name string
	// URL is the endpoint. It must be https:// unless the Sender allows HTTP.
	URL string
	// Signer authenticates each attempt; nil sends unsigned requests.
	Signer auth.Signer
	// Headers are added to every request (they never override the
	// signature, id, content-type or user-agent headers).
	Headers http.Header
	// Topics are topic patterns (listener syntax: "job:*", "**") that this
	// destination wants; empty means every topic. Send itself does not
	// filter; routers and queues use [Destination.Wants].
	Topics []string
}

// Message is one webhook to deliver.
type Message struct {
	// ID is the delivery id, sent as webhook-id on every attempt. Empty
	// means a new UUIDv7.
	ID string
	// Topic is the event topic, if any.
	Topic string
	// Body is sent as is, re-read on every attempt and never modified.
	Body []byte
	// ContentType defaults to application/json.
	ContentType string
}

// Result describes a finished delivery, successful or not.
type Result struct {
	ID       string        // the delivery id
	Attempts int           // how many requests were made
	Status   int           // the last HTTP status, 0 when no response came
	Latency  time.Duration // from the first attempt to the end
	Body     []byte        // at most MaxResponseBody bytes of the last response
}

// MaxResponseBody bounds how much of a response body is kept in a [Result].
const MaxResponseBody = 64 << 10

// RetryPolicy bounds the in-process retries of one delivery. The zero value
// selects the defaults documented on each field.
type RetryPolicy struct {
	MaxAttempts int           // total attempts, default 5; 1 disables retries
	MinWait     time.Duration // default 500ms
	MaxWait     time.Duration // cap on one wait, Retry-After included; default 30s
	MaxElapsed  time.Duration // give up once this much time has passed; default 2m
}

// Sentinel errors, wrapped in a [*DeliveryError]; match them with errors.Is.
var (
	ErrGone        = errors.New("destination is gone (410)")
	ErrRejected    = errors.New("rejected by the destination (4xx)")
	ErrServer      = errors.New("destination failed (5xx)")
	ErrRedirect    = errors.New("redirect refused")
	ErrNetwork     = errors.New("network error")
	ErrTimeout     = errors.New("attempt timed out")
	ErrInsecureURL = errors.New("URL is not https")
	ErrInvalidURL  = errors.New("invalid destination URL")
	ErrBlockedAddr = errors.New("address not allowed")
	ErrSign        = errors.New("signing failed")
	ErrGaveUp      = errors.New("retries exhausted")
)

// DeliveryError is the error Send returns when a delivery did not succeed.
type DeliveryError struct {
	ID        string
	Status    int // last HTTP status, 0 if none
	Attempts  int
	Retryable bool // whether a later try (an outbox) may still succeed
	Err       error
}

func (e *DeliveryError) Error() string { return "herald: delivery " + e.ID + ": " + e.Err.Error() }
func (e *DeliveryError) Unwrap() error { return e.Err }

// Sender delivers messages. Its zero value is ready to use with the
// defaults; set fields before the first Send and do not change them after.
// A Sender is safe for concurrent use.
type Sender struct {
	Retry          RetryPolicy
	AttemptTimeout time.Duration  // per attempt, default 30s
	TLS            *tls.Config    // root CAs, client certificates; MinVersion raised to TLS 1.2
	AllowHTTP      bool           // permit http:// URLs (local development)
	AllowNetworks  []netip.Prefix // exempt from the private-address guard
	Logger         *slog.Logger   // nil: no logs
	Resolver       Resolver       // nil: net.DefaultResolver
}

// Resolver resolves host names; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}
