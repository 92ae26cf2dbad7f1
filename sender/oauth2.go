package sender

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/wire"
)

// OAuth2 configures the OAuth 2.0 client credentials grant (RFC 6749, section
// 4.4) for a [Destination] whose receiver wants an access token: the Sender
// fetches one from TokenURL, caches it, fetches a new one before it expires
// (using the old one until it does while that fails), and sends it as
// "Authorization: Bearer" on every attempt. A 401 answer makes it fetch a new
// token and try once more, at once, outside [RetryPolicy.MaxAttempts].
// A token lives for the answer's expires_in (at most 2³¹-1 seconds); one
// answered without expires_in, or with one that is zero or negative, is
// taken not to expire and kept until a receiver refuses it. An answer
// whose token is empty, not of type Bearer (RFC 6749, section 7.1) or
// unfit for a header, or whose JSON expires_in is not an integer, is a
// failed fetch.
//
// The token endpoint is reached as the destination is: through the
// Sender's address guard and CA trust ([Sender.TLS]), with the
// destination's client certificate, https only (unless
// [Sender.AllowHTTP]), within [Sender.AttemptTimeout], never through a
// proxy and never following a redirect; so a token URL supplied by a
// tenant is no way around the guard. A failed fetch, whatever its cause,
// is the answer, for a second, to the deliveries that waited on it and
// those right after, so that a token endpoint that hangs holds them for
// one fetch, not one each, and one that fails is asked once a second,
// not once a delivery. Neither the token nor the secret appears in a log
// line, an error or a formatted value.
//
// It combines with a Signer that signs in its own header (Standard
// Webhooks, Hub, Stripe). A Signer that sets Authorization itself (JWT),
// or an Authorization in [Destination.Headers], is refused by
// [Sender.Validate] and by Send, with [ErrInvalidMessage].
//
// Deliveries through one *OAuth2 (and one client certificate) share one
// cached token: make it once per destination, not per message, and do
// not change it after the first Send.
type OAuth2 struct {
	// TokenURL is the token endpoint, https://.
	TokenURL string
	// ClientID identifies the client to the token endpoint.
	ClientID string
	// ClientSecret authenticates the client (HTTP Basic first; the
	// form parameters if the endpoint refuses Basic).
	ClientSecret auth.Secret
	// Scopes are requested with every token; empty requests none.
	Scopes []string
}

// maxEarlyRefresh is how long before its expiry a token is replaced at the
// most; a short-lived token is replaced when half its life has passed.
const maxEarlyRefresh = time.Minute

// ErrToken: no OAuth2 access token for the destination: its token
// endpoint refused the client (a 4xx), failed (5xx, network; then
// [DeliveryError.Retryable]), answered no usable token (none, one over
// 16 KiB, or one of another type than Bearer), or is not a
// URL the Sender may reach. Its answer is never quoted.
var ErrToken = errors.New("no OAuth2 token")

// errAuthorizationTaken refuses an OAuth2 destination whose Signer or
// Headers set Authorization, where the access token goes.
var errAuthorizationTaken = fmt.Errorf("%w: Destination.OAuth2 sends its token in Authorization, which the Signer (a JWT scheme) or Destination.Headers set too; use a scheme that signs in its own header", ErrInvalidMessage)

// tokenKey identifies a cached token: the configuration and the client
// certificate of the connections that fetch it.
type tokenKey struct {
	o    *OAuth2
	cert *tls.Certificate
}

// tokenCache holds the access token of one OAuth2 configuration. sem, a
// mutex that a waiting caller can leave when its context ends, guards the
// rest, so that one token is fetched at a time however many deliveries
// need it.
type tokenCache struct {
	cfg    clientcredentials.Config
	client *http.Client
	label  string // the redacted token URL
	now    func() time.Time

	sem       chan struct{}
	tok       string
	refreshAt time.Time // zero when the token does not expire
	expiry    time.Time // when tok expires; zero when it does not
	failed    error     // the last fetch's failure, answered for tokenFailureHold after failedAt
	failedAt  time.Time
}

// tokenFailureHold is how long a failed fetch answers for the deliveries
// that waited on it, and those that come right after, rather than each
// fetching again in turn: behind a token endpoint that hangs, the k-th of
// them would otherwise wait k fetches.
const tokenFailureHold = time.Second

// newTokenCache checks o and makes its cache, fetching through client.
func (s *Sender) newTokenCache(o *OAuth2, client *http.Client) (*tokenCache, error) {
	label, err := s.checkTokenURL(o)
	if err != nil {
		return nil, err
	}
	fetcher := *client
	fetcher.Transport = noSwitch{client.Transport}
	return &tokenCache{
		cfg: clientcredentials.Config{
			ClientID: o.ClientID, ClientSecret: string(o.ClientSecret.Bytes()),
			TokenURL: o.TokenURL, Scopes: slices.Clone(o.Scopes),
		},
		client: &fetcher,
		label:  label,
		now:    time.Now,
		sem:    make(chan struct{}, 1),
	}, nil
}

// noSwitch is the RoundTripper of token fetches: it fails an answer of 101
// Switching Protocols, closing its connection. net/http hands over such an
// answer's connection as its body, which no context or timeout closes,
// and the oauth2 library reads the body before it looks at the status: a
// token endpoint answering 101 and holding the connection open held the
// fetch, the delivery's worker and a Queue's Shutdown as long as it liked.
type noSwitch struct{ rt http.RoundTripper }

// errSwitch is noSwitch's error.
var errSwitch = errors.New("answered 101 Switching Protocols")

// RoundTrip makes the request with rt (or http.DefaultTransport).
func (n noSwitch) RoundTrip(req *http.Request) (*http.Response, error) {
	rt := n.rt
	if rt == nil {
		rt = http.DefaultTransport
	}
	res, err := rt.RoundTrip(req)
	if err == nil && res.StatusCode == http.StatusSwitchingProtocols {
		res.Body.Close()
		return nil, errSwitch
	}
	return res, err
}

// checkTokenURL checks an OAuth2 configuration as a destination URL is
// checked, and returns the redacted token URL.
func (s *Sender) checkTokenURL(o *OAuth2) (string, error) {
	if o.ClientID == "" {
		return "", fmt.Errorf("%w: OAuth2 has no ClientID", ErrToken)
	}
	u, err := url.Parse(o.TokenURL)
	if err != nil || o.TokenURL == "" {
		return "", fmt.Errorf("%w: OAuth2 TokenURL: %w: cannot parse", ErrToken, ErrInvalidURL)
	}
	label := redactURL(u)
	if err := s.checkURL(u); err != nil {
		return label, fmt.Errorf("%w: OAuth2 TokenURL: %w", ErrToken, err)
	}
	return label, nil
}

// token returns the cached access token, fetching a new one when there is
// none or when it is about to expire.
func (c *tokenCache) token(ctx context.Context) (string, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-c.sem }()
	now := c.now()
	if c.tok != "" && (c.refreshAt.IsZero() || now.Before(c.refreshAt)) {
		return c.tok, nil
	}
	// A token due for its early refresh is still good until it expires:
	// while the refresh fails, it is used rather than failing deliveries.
	valid := c.tok != "" && now.Before(c.expiry)
	if c.failed != nil && now.Sub(c.failedAt) < tokenFailureHold {
		if valid {
			return c.tok, nil
		}
		return "", c.failed
	}
	tok, life, err := c.fetch(ctx)
	if err != nil {
		if ctx.Err() == nil { // not when the caller left: the endpoint may be fine
			c.failed, c.failedAt = err, c.now()
		}
		if valid {
			return c.tok, nil
		}
		return "", err
	}
	c.failed = nil
	c.tok, c.refreshAt, c.expiry = tok, time.Time{}, time.Time{}
	if life > 0 {
		c.refreshAt = now.Add(life - min(maxEarlyRefresh, life/2))
		c.expiry = now.Add(life)
	}
	return c.tok, nil
}

// fetch asks the token endpoint for a token, and returns it with its
// lifetime, zero when the answer gives none. An answer without a token
// the Sender can send as "Authorization: Bearer" is an error, as a failed
// request is.
func (c *tokenCache) fetch(ctx context.Context) (string, time.Duration, error) {
	// One timeout for the fetch, the client's per request: the library
	// tries a second request (credentials in the form) when the first
	// (HTTP Basic) fails.
	fctx, cancel := context.WithTimeout(context.WithValue(ctx, oauth2.HTTPClient, c.client), c.client.Timeout)
	t, err := c.cfg.Token(fctx)
	cancel()
	switch {
	case err != nil:
		return "", 0, c.fetchError(err)
	case t.Type() != "Bearer": // RFC 6749, section 7.1: not to be used as one
		return "", 0, &setupError{err: fmt.Errorf("%w: %s answered a token of another type than Bearer", ErrToken, c.label), retryable: true}
	case t.AccessToken == "" || len(t.AccessToken) > maxAccessToken || wire.CheckHeader("Authorization", "Bearer "+t.AccessToken) != nil:
		return "", 0, &setupError{err: fmt.Errorf("%w: %s answered no usable access token (empty, over 16 KiB, or not a header value)", ErrToken, c.label), retryable: true}
	}
	return t.AccessToken, tokenLife(t), nil
}

// maxAccessToken is the longest access token taken, in bytes: more than
// any identity provider issues and than many servers take in a header. A
// token is cached per destination and sent with every attempt, so a
// token endpoint's megabyte would cost a megabyte a request.
const maxAccessToken = 16 << 10

// maxTokenLife is the longest lifetime a token is taken to have: 2³¹-1
// seconds (some 68 years), as the library reads a JSON expires_in.
const maxTokenLife = math.MaxInt32 * time.Second

// tokenLife returns the lifetime of t (RFC 6749, section 5.1: expires_in,
// in seconds), at most maxTokenLife, or zero when the answer gives none:
// no expires_in, or one that is not a number of at least one second. It
// reads expires_in itself: the library's t.Expiry is a time in the past
// for a negative expires_in, and for a large one in a form-encoded answer,
// whose number of nanoseconds overflows; either way every delivery would
// fetch a new token.
func tokenLife(t *oauth2.Token) time.Duration {
	var secs float64
	switch v := t.Extra("expires_in").(type) {
	case float64: // a JSON number; in a form, one with a decimal point
		secs = v
	case int64: // in a form
		secs = float64(v)
	case string: // a JSON string; in a form, anything but a number that fits
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err == nil || errors.Is(err, strconv.ErrRange) {
			secs = n // ±Inf when out of range
		}
	}
	switch {
	case !(secs >= 1): // also NaN
		return 0
	case secs >= float64(maxTokenLife/time.Second):
		return maxTokenLife
	}
	return time.Duration(secs) * time.Second
}

// invalidate drops the cached token if it is still used, the one a
// receiver refused, so that the next caller fetches a new one; a token
// fetched meanwhile by another delivery is kept.
func (c *tokenCache) invalidate(ctx context.Context, used string) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return // the caller is gone; a later refusal drops the token
	}
	defer func() { <-c.sem }()
	if subtle.ConstantTimeCompare([]byte(c.tok), []byte(used)) == 1 {
		c.tok = ""
	}
}

// tokenErrorCodes are the error codes of a token endpoint's answer that
// fetchError names (RFC 6749, sections 5.2 and 4.1.2.1): any other is not
// quoted, as an endpoint may put the client secret there.
var tokenErrorCodes = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "access_denied", "server_error", "temporarily_unavailable",
}

// fetchError describes a failed token fetch without quoting the token
// endpoint's answer, which may echo credentials, or its query string.
func (c *tokenCache) fetchError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code := re.Response.StatusCode
		text := fmt.Sprintf("%s answered status %d", c.label, code)
		if slices.Contains(tokenErrorCodes, re.ErrorCode) {
			text += " (" + re.ErrorCode + ")"
		}
		retry := code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
		return &setupError{err: fmt.Errorf("%w: %s", ErrToken, text), retryable: retry}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text quotes the whole URL
	}
	var ne net.Error
	switch {
	case errors.Is(err, errSwitch):
		return &setupError{err: fmt.Errorf("%w: %s %w", ErrToken, c.label, errSwitch), retryable: true}
	case errors.Is(err, ErrBlockedAddr), errors.Is(err, ErrInvalidURL), isCertError(err):
		return &setupError{err: fmt.Errorf("%w: %s: %w", ErrToken, c.label, clipped{err})}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne):
		return &setupError{err: fmt.Errorf("%w: %s: %w: %w", ErrToken, c.label, ErrNetwork, clipped{err}), retryable: true}
	}
	// The library's own errors (an unparsable answer) quote the answer.
	return &setupError{err: fmt.Errorf("%w: %s answered no usable token", ErrToken, c.label), retryable: true}
}

// destClient returns the client of dest's connections (the Sender's, or
// one of its own for a client certificate) and its token cache when it
// uses OAuth2.
func (s *Sender) destClient(dest *Destination) (*http.Client, *tokenCache, error) {
	client := s.client
	if dest.ClientCert != nil {
		var err error
		if client, err = s.certClient(dest.ClientCert); err != nil {
			return nil, nil, err
		}
	}
	if dest.OAuth2 == nil {
		return client, nil, nil
	}
	key := tokenKey{dest.OAuth2, dest.ClientCert}
	if v, ok := s.tokens.Load(key); ok {
		return client, v.(*tokenCache), nil
	}
	tc, err := s.newTokenCache(dest.OAuth2, &http.Client{Transport: client.Transport, CheckRedirect: noRedirect, Timeout: s.timeout})
	if err != nil {
		return nil, nil, err
	}
	if s.ntokens.Add(1) > maxCachedURLs {
		s.tokens.Clear()
		s.ntokens.Store(1)
	}
	v, _ := s.tokens.LoadOrStore(key, tc)
	return client, v.(*tokenCache), nil
}

// validateAuth checks dest's client certificate and OAuth2 settings, and
// that nothing else takes the Authorization header the token goes in. To
// learn whether the Signer sets Authorization, it signs an empty message
// once.
func (s *Sender) validateAuth(dest Destination) error {
	if c := dest.ClientCert; c != nil && (len(c.Certificate) == 0 || c.PrivateKey == nil) {
		return errNoClientCert
	}
	if dest.OAuth2 == nil {
		return nil
	}
	if _, err := s.checkTokenURL(dest.OAuth2); err != nil {
		return err
	}
	for name := range dest.Headers {
		if strings.EqualFold(name, "Authorization") {
			return errAuthorizationTaken
		}
	}
	if dest.Signer != nil {
		h := http.Header{}
		if dest.Signer.Sign(h, auth.Message{ID: "msg_validate", URL: dest.URL}) == nil && h.Get("Authorization") != "" {
			return errAuthorizationTaken
		}
	}
	return nil
}
