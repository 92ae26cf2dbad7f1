package auth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// JWKS fetching defaults.
const (
	// jwksMinRefreshInterval is the least time between two fetches of a
	// JWKS URL, so that tokens with made-up kids cannot make a verifier
	// hammer the key server.
	jwksMinRefreshInterval = time.Minute
	// jwksMaxAge is how long fetched keys are used before they are fetched
	// again (on the next lookup; stale keys stay in use if that fails).
	jwksMaxAge = time.Hour
	// jwksFetchTimeout bounds one fetch of a JWKS URL.
	jwksFetchTimeout = 10 * time.Second
	// jwksCacheMaxAge is the max-age that [JWKSHandler] advertises.
	jwksCacheMaxAge = 5 * time.Minute
)

// A KeySet supplies the public keys a JWT verifier may accept. Keys returns
// the candidate keys for a token whose header names kid ("" when the token
// names none), or an error wrapping [ErrUnknownKey]. [PublicKeys] is a static
// set; [*JWKS] fetches one from a URL. Implementations are safe for
// concurrent use.
type KeySet interface {
	Keys(ctx context.Context, kid string) ([]PublicKey, error)
}

// PublicKeys is a fixed [KeySet]. A token without a kid may match any of its
// keys; a token with a kid matches the keys with that ID, or when none has
// it, the keys that have no ID at all. A kid that matches neither is
// [ErrUnknownKey].
type PublicKeys []PublicKey

// Keys returns the keys of ks that a token naming kid may be signed with.
func (ks PublicKeys) Keys(_ context.Context, kid string) ([]PublicKey, error) {
	return selectKeys(ks, kid)
}

// selectKeys implements the kid rule documented on [PublicKeys].
func selectKeys(keys []PublicKey, kid string) ([]PublicKey, error) {
	if kid == "" {
		if len(keys) == 0 {
			return nil, fmt.Errorf("auth: %w: no keys", ErrUnknownKey)
		}
		return slices.Clone(keys), nil // the caller's, not the set's
	}
	var byID, noID []PublicKey
	for _, k := range keys {
		switch k.ID() {
		case kid:
			byID = append(byID, k)
		case "":
			noID = append(noID, k)
		}
	}
	if len(byID) > 0 {
		return byID, nil
	}
	if len(noID) > 0 {
		return noID, nil
	}
	return nil, fmt.Errorf("auth: %w: no key has the token's kid", ErrUnknownKey)
}

// JWKSHandler serves keys as a JSON Web Key Set (see [MarshalJWKS]) to GET
// and HEAD requests, with Cache-Control so that verifiers and CDNs cache it
// for five minutes. The document is built once: keys do not change.
func JWKSHandler(keys ...PublicKey) http.Handler {
	doc, err := MarshalJWKS(keys...)
	if err != nil {
		// jwk holds only strings; Marshal cannot fail. Serve an empty set
		// rather than panic should that ever change.
		doc = []byte(`{"keys":[]}`)
	}
	cacheControl := "public, max-age=" + strconv.Itoa(int(jwksCacheMaxAge/time.Second))
	length := strconv.Itoa(len(doc))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", cacheControl)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", length)
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(doc)
	})
}

// JWKS is a [KeySet] fetched from a JWKS URL and cached. It fetches on first
// use, again once the keys are older than an hour, when a token names a
// kid it does not know, and, for a verifier made by [NewJWTVerifier], when
// a token's signature matches none of the keys its kid selects (an issuer
// may publish a new key under a kid it used before; the token is then
// checked once more if the fetch brought such a key) — but never twice
// within a minute, however many requests ask. Each fetch takes at
// most 10 seconds and reads at most 1 MiB; the document is parsed by
// [ParseJWKS]. Keys older than an hour stay in use while they are
// fetched again (a lookup that finds its kid among them does not wait for
// the fetch), and for as long as that fails.
//
// A token verified against a JWKS must name its key (kid) when the set
// holds more than one key of the token's algorithm; without one it fails
// with [ErrUnknownKey], rather than costing a signature check per key.
//
// A key of the set that it cannot use (malformed, holding private members,
// of another type, marked for another use than signatures by use or
// key_ops, with a kid [NewPublicKey] refuses, or sharing its kid with
// another) is skipped and the others are used; a token naming the kid of a
// skipped key fails with [ErrUnknownKey] saying why that key was skipped
// (a key of the set without a kid is not tried for it, nor, once the set
// skipped more than 64 keys with a kid, for any kid no usable key names).
// A set in which no key is usable is refused, as a failed fetch is.
//
// A JWKS is safe for concurrent use. Create it with [NewJWKS]: a nil or
// zero JWKS is refused by NewJWTVerifier, and its Keys fail, with [ErrBadKey].
type JWKS struct {
	url    sealed[string] // as given; used for requests only. Its query may hold a credential.
	safe   string         // scheme://host/path, for error messages
	client *http.Client

	// now is the clock, replaced in tests.
	now func() time.Time
	// fetchTimeout bounds one fetch: jwksFetchTimeout, shortened in tests.
	fetchTimeout time.Duration
	// sem (capacity 1) serialises fetches; waiting on it honours ctx.
	sem chan struct{}

	mu          sync.Mutex
	keys        []PublicKey
	skipped     map[string]string // kid -> why the fetched set's entry was skipped
	nSkipped    int               // entries of the fetched set skipped
	overflow    bool              // some skipped entry's kid is not in skipped
	fetched     time.Time         // when keys were fetched; zero before the first success
	lastAttempt time.Time         // when a fetch was last started
	lastErr     error             // the outcome of the last fetch
}

// errZeroJWKS: a nil JWKS, or a zero one made without NewJWKS, which has
// no URL to fetch from.
var errZeroJWKS = fmt.Errorf("auth: jwks: %w: nil or zero JWKS (make it with NewJWKS)", ErrBadKey)

// usable reports whether j was made by NewJWKS.
func (j *JWKS) usable() bool { return j != nil && j.sem != nil }

// NewJWKS returns a key set fetched from rawURL, which must be an https://
// URL. client makes the requests; nil means a client that refuses redirects
// to anything but https. Errors never contain the URL's query string.
// The first fetch happens on first use; to fail early at start-up, call
// Keys(ctx, "") once.
//
// The URL is trusted configuration: package auth makes no network policy of
// its own, so the default client may reach private and loopback addresses.
// When the URL comes from someone else (a tenant's settings), pass a client
// whose dialer refuses such addresses, as package sender's does.
func NewJWKS(rawURL string, client *http.Client) (*JWKS, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w: invalid URL", ErrBadKey)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("auth: jwks: %w: URL must be https://host/...", ErrBadKey)
	}
	if client == nil {
		client = &http.Client{
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if req.URL.Scheme != "https" {
					return errors.New("redirect to a non-https URL refused")
				}
				if len(via) >= 3 {
					return errors.New("too many redirects")
				}
				return nil
			},
		}
	}
	return &JWKS{
		url:          seal(rawURL),
		safe:         u.Scheme + "://" + u.Host + u.EscapedPath(),
		client:       client,
		now:          time.Now,
		fetchTimeout: jwksFetchTimeout,
		sem:          make(chan struct{}, 1),
	}, nil
}

// Keys returns the keys that a token naming kid may be signed with (see
// [PublicKeys] for the kid rule, but a kid named by a key the set skipped
// is refused, not given the keys without a kid), fetching the set first
// when it has none yet or when kid is unknown, within the refresh limits.
// Stale keys that hold kid are returned at once, and fetched again in the
// background.
func (j *JWKS) Keys(ctx context.Context, kid string) ([]PublicKey, error) {
	if !j.usable() {
		return nil, errZeroJWKS
	}
	j.mu.Lock()
	keys, fetched := j.keys, j.fetched
	j.mu.Unlock()
	if keys != nil {
		// A kid that no key names exactly is unknown, even where a key
		// without a kid would be tried for it: the set may have gained
		// that kid since (a rotation away from a kid-less key), so it is
		// fetched again, within the refresh limits, before falling back.
		if found, err := selectKeys(keys, kid); err == nil && (kid == "" || found[0].ID() == kid) {
			if j.now().Sub(fetched) >= jwksMaxAge {
				// Stale keys are fetched again, but not waited for: they
				// stay in use until the fetch succeeds, as when it fails.
				j.refreshInBackground(ctx)
			}
			return found, nil
		}
	}
	err := j.refresh(ctx)
	j.mu.Lock()
	keys = j.keys
	skipped, nSkipped := j.skipped[kid], j.nSkipped
	if skipped == "" && j.overflow {
		// The kid may be that of a skipped key the set did not remember:
		// no key without a kid stands in for it either.
		skipped = fmt.Sprintf("perhaps: more than %d keys with a kid were skipped, and not all are remembered", maxSkippedKids)
	}
	j.mu.Unlock()
	found, lookupErr := selectKeys(keys, kid)
	if lookupErr == nil && (kid == "" || skipped == "" || found[0].ID() == kid) {
		return found, nil
	}
	// A key without a kid stands in for a kid the set does not name, not
	// for one it names on a key it skipped: that token is refused saying
	// why the key was skipped.
	switch {
	case kid != "" && skipped != "":
		lookupErr = fmt.Errorf("auth: %w: the JWKS's key with the token's kid was skipped as unusable (%s)", ErrUnknownKey, skipped)
	case nSkipped > 0:
		lookupErr = fmt.Errorf("%w; the JWKS skipped %d of its keys as unusable", lookupErr, nSkipped)
	}
	if err != nil {
		return nil, fmt.Errorf("%w (%w)", lookupErr, err)
	}
	return nil, lookupErr
}

// refetch is for a token under kid, of algorithm alg, whose signature
// none of tried (the keys it was checked against) matches: the issuer may
// have published a new key under a kid it used before, which a lookup of
// that kid does not fetch. It fetches the set again, within the limits an
// unknown kid obeys, and reports whether kid now selects a key of alg not
// among tried, against which the token is worth checking once more.
func (j *JWKS) refetch(ctx context.Context, kid, alg string, tried []crypto.PublicKey) bool {
	_ = j.refresh(ctx) // a fetch that fails leaves the keys as they were
	j.mu.Lock()
	keys := j.keys
	j.mu.Unlock()
	found, err := selectKeys(keys, kid)
	if err != nil {
		return false
	}
	for _, k := range found {
		isTried := func(t crypto.PublicKey) bool { return sameKey(k.Key(), t) }
		if k.Algorithm() == alg && !slices.ContainsFunc(tried, isTried) {
			return true
		}
	}
	return false
}

// refresh fetches unless rate-limited. A caller that waited for another
// fetch in flight takes that one's outcome. The fetch itself is detached
// from ctx (bounded by [jwksFetchTimeout] instead): a client that hangs up
// must not abort it, or it could block refreshes for everyone for the rest
// of the interval. ctx only bounds how long this caller waits.
func (j *JWKS) refresh(ctx context.Context) error {
	start := j.now()
	select {
	case j.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("auth: jwks: waiting for a fetch: %w", ctx.Err())
	}
	done, lastErr := j.start(ctx, start)
	if done == nil {
		return lastErr
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("auth: jwks: waiting for a fetch: %w", ctx.Err())
	}
}

// refreshInBackground starts a fetch, within the refresh limits, unless
// one is in flight, and does not wait for it.
func (j *JWKS) refreshInBackground(ctx context.Context) {
	select {
	case j.sem <- struct{}{}:
		j.start(ctx, j.now())
	default: // a fetch is in flight
	}
}

// start is called holding sem. It starts a fetch, which stores its keys
// and releases sem, and returns the channel of its outcome; or, when a
// fetch started at or after since or within the last minute, it releases
// sem and returns that fetch's outcome instead.
func (j *JWKS) start(ctx context.Context, since time.Time) (<-chan error, error) {
	j.mu.Lock()
	last, lastErr := j.lastAttempt, j.lastErr
	if !last.IsZero() && (!last.Before(since) || j.now().Sub(last) < jwksMinRefreshInterval) {
		// Someone fetched while we waited, or too recently: reuse.
		j.mu.Unlock()
		<-j.sem
		return nil, lastErr
	}
	j.lastAttempt = j.now()
	j.mu.Unlock()

	done := make(chan error, 1)
	go func() {
		set, err := j.fetch(context.WithoutCancel(ctx))
		j.mu.Lock()
		j.lastErr = err
		if err == nil {
			j.keys, j.skipped, j.nSkipped, j.overflow, j.fetched = set.keys, set.skipped, set.nSkipped, set.overflow, j.now()
		}
		j.mu.Unlock()
		// The slot is free before the outcome is told: a lookup that goes
		// on with it and finds the keys stale must be able to start their
		// refresh, not find this fetch still in flight.
		<-j.sem
		done <- err
	}()
	return done, nil
}

// fetch GETs and parses the key set.
func (j *JWKS) fetch(ctx context.Context) (keySet, error) {
	ctx, cancel := context.WithTimeout(ctx, j.fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url.open(), nil)
	if err != nil {
		return keySet{}, fmt.Errorf("auth: jwks: fetching %s: cannot build request", j.safe)
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := j.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error prints the full URL, query string included.
			err = ue.Err
		}
		return keySet{}, fmt.Errorf("auth: jwks: fetching %s: %w", j.safe, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return keySet{}, fmt.Errorf("auth: jwks: fetching %s: status %d", j.safe, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSLen+1))
	if err == nil {
		// A body cut off by the timeout can read as ended: the document
		// is then a truncated one, not the server's.
		err = ctx.Err()
	}
	if err != nil {
		return keySet{}, fmt.Errorf("auth: jwks: reading %s: %w", j.safe, err)
	}
	if len(data) > maxJWKSLen {
		return keySet{}, fmt.Errorf("auth: jwks: %s: %w: document larger than %d bytes", j.safe, ErrBadKey, maxJWKSLen)
	}
	set, err := parseKeySet(data)
	if err == nil {
		err = set.noneUsable()
	}
	if err != nil {
		return keySet{}, fmt.Errorf("auth: jwks: %s: %w", j.safe, err)
	}
	return set, nil
}
