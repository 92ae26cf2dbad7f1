package sender

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// Pool settings of the transport every Sender builds. They favour many
// concurrent deliveries to few hosts: the defaults of net/http and
// go-retryablehttp keep only a couple of idle connections per host, so under
// load most requests pay a fresh TCP and TLS handshake.
const (
	maxIdleConns        = 1024
	maxIdleConnsPerHost = 256
	idleConnTimeout     = 90 * time.Second
	tlsHandshakeTimeout = 10 * time.Second
	dialTimeout         = 10 * time.Second
	keepAlive           = 30 * time.Second
	tlsSessionCacheSize = 1024
	// maxResponseHeader bounds the response headers read, as
	// maxResponseBody bounds the body: net/http's default, 10 MiB, let a
	// hostile receiver cost each attempt tens of megabytes.
	maxResponseHeader = 64 << 10
)

// defaultAttemptTimeout bounds one attempt (dial, TLS, request and response
// headers) when [Sender.AttemptTimeout] is zero.
const defaultAttemptTimeout = 30 * time.Second

// tlsConfig returns a copy of c, or a fresh config, with TLS 1.2 as the
// minimum version and a session cache, so reconnections resume sessions.
func tlsConfig(c *tls.Config) *tls.Config {
	var t *tls.Config
	if c != nil {
		t = c.Clone()
	} else {
		t = &tls.Config{}
	}
	if t.MinVersion < tls.VersionTLS12 {
		t.MinVersion = tls.VersionTLS12
	}
	if t.ClientSessionCache == nil {
		t.ClientSessionCache = tls.NewLRUClientSessionCache(tlsSessionCacheSize)
	}
	return t
}

// newTransport builds the pooled transport of a Sender. It dials through
// the address guard and never uses a proxy: a proxy would make the guard
// check the proxy instead of the destination.
func (s *Sender) newTransport() *http.Transport {
	res := s.LookupNetIP
	if res == nil {
		res = net.DefaultResolver.LookupNetIP
	}
	g := &guardDialer{
		dialer:   net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive},
		resolver: res,
		allow:    append(s.AllowNetworks[:0:0], s.AllowNetworks...),
		logger:   s.Logger,
	}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            g.DialContext,
		TLSClientConfig:        tlsConfig(s.TLS),
		TLSHandshakeTimeout:    tlsHandshakeTimeout,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           maxIdleConns,
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		IdleConnTimeout:        idleConnTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeader,
	}
}

// idleKeeper hides the CloseIdleConnections method of the transport from
// http.Client: go-retryablehttp calls it after every failed delivery, which
// would tear down the pooled connections of all the other destinations.
type idleKeeper struct{ rt http.RoundTripper }

// RoundTrip sends the request through the pooled transport.
func (k idleKeeper) RoundTrip(req *http.Request) (*http.Response, error) { return k.rt.RoundTrip(req) }

// noRedirect makes the client return 3xx responses as they are.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
