package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/heraldhq/herald/auth"
)

// schemeFlags holds the flags that choose and configure a signing scheme,
// shared by sign, send, verify and listen (and whatever command comes next).
// Register them with register; build the scheme with signer or verifier.
type schemeFlags struct {
	scheme     string
	secrets    stringList
	keys       stringList
	pubkeys    stringList
	alg        string
	kid        string
	issuer     string
	audience   string
	ttl        time.Duration
	headerName string
	sha1       bool
	tolerance  time.Duration

	// Set by commands, not flags.
	allowMissingExp bool
	// requireBodyHash makes a jwt verifier refuse a token without the
	// body_sha256 claim, which alone binds the body to the token.
	requireBodyHash bool
	clock           func() time.Time
	// prefix is put before every flag name by register ("in-" gives
	// --in-scheme, --in-secret, ...), so that one command can take two
	// sets of scheme flags.
	prefix string
	// name, if set, names a setting in errors instead of "--"+prefix+flag
	// (a configuration file uses its own key names).
	name func(flag string) string
}

// f returns the name of the setting flag as errors should show it:
// "--secret", "--in-secret", or what sf.name makes of it.
func (sf *schemeFlags) f(flag string) string {
	if sf.name != nil {
		return sf.name(flag)
	}
	return "--" + sf.prefix + flag
}

// schemeFlagNames are the flags register defines, without prefix; relay
// refuses them when there is no --dest to apply them to.
var schemeFlagNames = []string{"scheme", "secret", "key", "pubkey", "alg", "kid", "issuer", "audience", "ttl", "header-name", "sha1", "tolerance"}

// register defines the scheme flags on fs, each name preceded by sf.prefix.
func (sf *schemeFlags) register(fs *flagSet) {
	p, u := sf.prefix, func(s string) string { return s }
	if p != "" {
		u = func(s string) string { return "inbound: " + s }
	}
	// in gives the inbound flags of a relay, which only verify, a text
	// of their own where the shared one speaks of signing.
	in := func(shared, inbound string) string {
		if p != "" {
			return u(inbound)
		}
		return shared
	}
	fs.StringVar(&sf.scheme, p+"scheme", "standard", u("signing `scheme`: standard, standard-v1a, hub, stripe or jwt"))
	fs.Var(&sf.secrets, p+"secret", u("HMAC secret: a whsec_ `value` for standard, raw bytes for hub, stripe and jwt HS*;\nenv:NAME reads it from the environment, @FILE from a file; repeat to rotate"))
	fs.Var(&sf.keys, p+"key", u("private key: a whsk_ `key` (standard-v1a) or a PEM file (jwt, standard-v1a); env:NAME and @FILE work; repeat to rotate"))
	fs.Var(&sf.pubkeys, p+"pubkey", u("public key: a whpk_ `key` (standard-v1a), a PEM or JWKS file, or a JWKS https URL (jwt); repeat to rotate"))
	fs.StringVar(&sf.alg, p+"alg", "", in("jwt `algorithm`: HS256, HS384, HS512 (with --secret; default HS256) or RS256, ES256, EdDSA (from --key)",
		"jwt `algorithm` the platform signs with: HS256, HS384, HS512 (with --in-secret; default HS256) or RS256, ES256, EdDSA (from --in-pubkey; not with a JWKS URL, whose keys name their own)"))
	fs.StringVar(&sf.kid, p+"kid", "", u("jwt key `id` of a PEM key (default: its RFC 7638 thumbprint, as keygen writes in the JWKS)"))
	fs.StringVar(&sf.issuer, p+"issuer", "", in("jwt iss claim to write, or to require when verifying",
		"jwt iss claim to require; without it any issuer is accepted"))
	fs.StringVar(&sf.audience, p+"audience", "", in("jwt aud claim to write (default: the URL), or to require when verifying (without it, any audience)",
		"jwt aud claim to require; without it a token made for any audience is accepted, one for another receiver too"))
	fs.DurationVar(&sf.ttl, p+"ttl", 0, in("jwt token lifetime: what signing writes (default 5m), and the longest verifying accepts (default 10m)",
		"the longest jwt token lifetime accepted (default 10m)"))
	fs.StringVar(&sf.headerName, p+"header-name", "", u("signature header `name` (hub: X-Hub-Signature-256, stripe: Stripe-Signature)"))
	fs.BoolVar(&sf.sha1, p+"sha1", false, u("hub: use GitHub's legacy X-Hub-Signature: sha1=… header"))
	fs.DurationVar(&sf.tolerance, p+"tolerance", 0, u("how far a signed timestamp may be from now (default 5m; jwt: the clock leeway, default 30s)"))
}

// newSchemeFlagSet returns the flagSet of a command that signs or
// verifies (sign, verify, send, listen), with the scheme flags registered.
func newSchemeFlagSet(name, usageLine, doc, example string) (*flagSet, *schemeFlags) {
	fs := newFlagSet(name, usageLine, doc, example)
	sf := new(schemeFlags)
	sf.register(fs)
	return fs, sf
}

// usageError marks errors in the command line or its input: exit status 2.
type usageError struct{ err error }

// Error returns the message of the wrapped error.
func (e usageError) Error() string { return e.err.Error() }

// Unwrap returns the wrapped error.
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...)}
}

// signer builds the scheme's auth.Signer from the flags. Errors are
// usageErrors and never contain key material.
func (sf *schemeFlags) signer() (auth.Signer, error) {
	return sf.build(true)
}

// verifier builds the scheme's auth.Verifier from the flags. Errors are
// usageErrors and never contain key material.
func (sf *schemeFlags) verifier() (auth.Verifier, error) {
	s, err := sf.build(false)
	if err != nil {
		return nil, err
	}
	return s.(auth.Verifier), nil
}

// scheme is what every auth scheme is: both a Signer and a Verifier.
type scheme interface {
	auth.Signer
	auth.Verifier
}

// build makes the scheme; sign says whether it must be able to sign.
func (sf *schemeFlags) build(sign bool) (scheme, error) {
	if err := sf.check(); err != nil {
		return nil, err
	}
	if sf.tolerance < 0 {
		return nil, usagef("%s must not be negative", sf.f("tolerance"))
	}
	var s scheme
	var err error
	switch sf.scheme {
	case "standard":
		var secrets []auth.Secret
		if secrets, err = sf.loadSecrets(auth.ParseStandardSecret); err == nil {
			s, err = auth.NewStandard(secrets, sf.standardOptions()...)
		}
	case "hub":
		opts := []auth.HubOption{auth.WithHeaderName(sf.headerName)}
		if sf.sha1 {
			opts = append(opts, auth.WithSHA1())
		}
		var secrets []auth.Secret
		if secrets, err = sf.loadSecrets(rawSecret); err == nil {
			s, err = auth.NewHub(secrets, opts...)
		}
	case "stripe":
		var secrets []auth.Secret
		if secrets, err = sf.loadSecrets(rawSecret); err == nil {
			s, err = auth.NewStripe(secrets, auth.WithClock(sf.clock), auth.WithTolerance(sf.tolerance), auth.WithHeaderName(sf.headerName))
		}
	case "standard-v1a":
		s, err = sf.buildV1a(sign, sf.standardOptions())
	case "jwt":
		s, err = sf.buildJWT(sign)
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return nil, err
		}
		return nil, usageError{err}
	}
	return s, nil
}

// standardOptions returns --clock and --tolerance as options of the
// Standard Webhooks schemes. Their zero values (no --now, no --tolerance)
// keep the scheme's defaults, so the options are passed whether set or not.
func (sf *schemeFlags) standardOptions() []auth.StandardOption {
	return []auth.StandardOption{auth.WithClock(sf.clock), auth.WithTolerance(sf.tolerance)}
}

// check refuses unknown schemes and flags that the scheme does not use.
func (sf *schemeFlags) check() error {
	type rule struct {
		set     bool
		flag    string
		schemes []string
	}
	rules := []rule{
		{len(sf.secrets) > 0, sf.f("secret"), []string{"standard", "hub", "stripe", "jwt"}},
		{len(sf.keys) > 0, sf.f("key"), []string{"standard-v1a", "jwt"}},
		{len(sf.pubkeys) > 0, sf.f("pubkey"), []string{"standard-v1a", "jwt"}},
		{sf.alg != "", sf.f("alg"), []string{"jwt"}},
		{sf.kid != "", sf.f("kid"), []string{"jwt"}},
		{sf.issuer != "", sf.f("issuer"), []string{"jwt"}},
		{sf.audience != "", sf.f("audience"), []string{"jwt"}},
		{sf.ttl != 0, sf.f("ttl"), []string{"jwt"}},
		{sf.allowMissingExp, sf.f("allow-missing-exp"), []string{"jwt"}},
		{sf.headerName != "", sf.f("header-name"), []string{"hub", "stripe"}},
		{sf.sha1, sf.f("sha1"), []string{"hub"}},
		{sf.tolerance != 0, sf.f("tolerance"), []string{"standard", "standard-v1a", "stripe", "jwt"}},
	}
	switch sf.scheme {
	case "standard", "standard-v1a", "hub", "stripe", "jwt":
	default:
		return usagef("unknown scheme %s (want standard, standard-v1a, hub, stripe or jwt)", showArg(sf.scheme))
	}
	for _, r := range rules {
		if r.set && !contains(r.schemes, sf.scheme) {
			return usagef("%s does not apply to scheme %s (only to %s)", r.flag, sf.scheme, strings.Join(r.schemes, ", "))
		}
	}
	return nil
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// rawSecret makes a secret of the raw bytes of s, as hub, stripe and JWT HS*
// use them.
func rawSecret(s string) (auth.Secret, error) {
	return auth.NewSecret([]byte(s)), nil
}

// loadSecrets resolves every --secret and converts it with parse.
func (sf *schemeFlags) loadSecrets(parse func(string) (auth.Secret, error)) ([]auth.Secret, error) {
	if len(sf.secrets) == 0 {
		return nil, usagef("missing %s (a value, env:NAME or @FILE) for scheme %s", sf.f("secret"), sf.scheme)
	}
	secrets := make([]auth.Secret, 0, len(sf.secrets))
	for i, v := range sf.secrets {
		raw, err := resolveSecret(v)
		if err != nil {
			return nil, usagef("%s #%d: %w", sf.f("secret"), i+1, err)
		}
		if raw == "" {
			return nil, usagef("%s #%d is empty", sf.f("secret"), i+1)
		}
		s, err := parse(raw)
		if err != nil {
			return nil, usagef("%s #%d: %w", sf.f("secret"), i+1, err)
		}
		secrets = append(secrets, s)
	}
	return secrets, nil
}

// resolveSecret returns the secret that a --secret value designates: the
// value of environment variable NAME for "env:NAME", the content of FILE for
// "@FILE", either with its trailing newlines dropped (a variable set from a
// file, as a Kubernetes secret is, keeps the file's), else the value itself.
// Errors never repeat the value, nor the file's name, in case a secret was
// typed where the name belongs; the variable's name only when it is written
// as environment variables are (envName).
func resolveSecret(v string) (string, error) {
	switch {
	case strings.HasPrefix(v, "env:"):
		name := v[len("env:"):]
		val, ok := os.LookupEnv(name)
		if !ok {
			if isEnvName(name) {
				return "", fmt.Errorf("environment variable %s is not set", name)
			}
			return "", errors.New("the environment variable it names is not set")
		}
		return strings.TrimRight(val, "\r\n"), nil
	case strings.HasPrefix(v, "@"):
		b, err := readFile(v[1:], "the file it names", maxKeyFile)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return v, nil
}

// isEnvName reports whether s is written as environment variables usually
// are: capital letters, digits and underscores, not too long. A secret
// typed after env: by mistake is not, so errors may show such a name.
func isEnvName(s string) bool {
	if s == "" || len(s) > 64 || ('0' <= s[0] && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// resolveKey returns the key material that a --key or --pubkey value
// designates: the value itself when it starts with one of the literal
// prefixes (whsk_, whpk_, https://), else env:NAME, @FILE or a file name.
// Errors never repeat the value, nor the file's name, in case it was a key
// given by mistake.
func resolveKey(v string, literal ...string) ([]byte, error) {
	for _, p := range literal {
		if strings.HasPrefix(v, p) {
			return []byte(v), nil
		}
	}
	if strings.HasPrefix(v, "env:") || strings.HasPrefix(v, "@") {
		s, err := resolveSecret(v)
		return []byte(s), err
	}
	if _, err := os.Stat(v); err != nil {
		return nil, fmt.Errorf("neither a %s key nor a readable file: %w", strings.Join(literal, " or "), osReason(err))
	}
	return readFile(v, "the file it names", maxKeyFile)
}

// isPEM reports whether b looks like a PEM document.
func isPEM(b []byte) bool {
	return bytes.Contains(b, []byte("-----BEGIN "))
}

// loadPrivateKeys resolves every --key.
func (sf *schemeFlags) loadPrivateKeys() ([]auth.PrivateKey, error) {
	keys := make([]auth.PrivateKey, 0, len(sf.keys))
	for i, v := range sf.keys {
		b, err := resolveKey(v, "whsk_")
		if err != nil {
			return nil, usagef("%s #%d: %w", sf.f("key"), i+1, err)
		}
		var k auth.PrivateKey
		switch t := strings.TrimSpace(string(b)); {
		case strings.HasPrefix(t, "whsk_"):
			k, err = auth.ParsePrivateKey([]byte(t), sf.kid)
		case isPEM(b):
			k, err = auth.ParsePrivateKey(b, sf.kid)
		default:
			err = fmt.Errorf("%w: neither a whsk_ key nor a PEM private key", auth.ErrBadKey)
		}
		if err != nil {
			return nil, usagef("%s #%d: %w", sf.f("key"), i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// loadPublicKeys resolves every --pubkey into a fixed key list, or a JWKS
// URL into a fetching key set.
func (sf *schemeFlags) loadPublicKeys() (auth.KeySet, []auth.PublicKey, error) {
	var keys []auth.PublicKey
	for i, v := range sf.pubkeys {
		if strings.HasPrefix(v, "https://") || strings.HasPrefix(v, "http://") {
			if sf.scheme != "jwt" {
				return nil, nil, usagef("%s #%d: a JWKS URL works with scheme jwt only", sf.f("pubkey"), i+1)
			}
			if len(sf.pubkeys) > 1 {
				return nil, nil, usagef("%s: a JWKS URL cannot be combined with other public keys", sf.f("pubkey"))
			}
			set, err := auth.NewJWKS(v, nil)
			if err != nil {
				return nil, nil, usagef("%s: %w", sf.f("pubkey"), err)
			}
			return set, nil, nil
		}
		b, err := resolveKey(v, "whpk_")
		if err != nil {
			return nil, nil, usagef("%s #%d: %w", sf.f("pubkey"), i+1, err)
		}
		t := strings.TrimSpace(string(b))
		switch {
		case strings.HasPrefix(t, "whpk_"):
			var k auth.PublicKey
			if k, err = auth.ParsePublicKey([]byte(t), ""); err == nil {
				keys = append(keys, k)
			}
		case strings.HasPrefix(t, "{"):
			var ks []auth.PublicKey
			if ks, err = auth.ParseJWKS(b); err == nil {
				keys = append(keys, ks...)
			}
		case isPEM(b):
			var k auth.PublicKey
			if k, err = auth.ParsePublicKey(b, sf.kid); err == nil {
				keys = append(keys, k)
			}
		default:
			err = fmt.Errorf("%w: neither a whpk_ key, a JWKS document nor a PEM public key", auth.ErrBadKey)
		}
		if err != nil {
			return nil, nil, usagef("%s #%d: %w", sf.f("pubkey"), i+1, err)
		}
	}
	return auth.PublicKeys(keys), keys, nil
}

// buildV1a makes a Standard Webhooks v1a scheme: from --key to sign (and
// verify), or from --pubkey to verify only.
func (sf *schemeFlags) buildV1a(sign bool, opts []auth.StandardOption) (scheme, error) {
	if len(sf.keys) > 0 && len(sf.pubkeys) > 0 {
		return nil, usagef("give %s or %s, not both", sf.f("key"), sf.f("pubkey"))
	}
	if len(sf.keys) > 0 {
		keys, err := sf.loadPrivateKeys()
		if err != nil {
			return nil, err
		}
		return auth.NewStandardV1a(keys, opts...)
	}
	if sign {
		return nil, usagef("missing %s (a whsk_ key, env:NAME or @FILE) for scheme standard-v1a", sf.f("key"))
	}
	if len(sf.pubkeys) == 0 {
		return nil, usagef("missing %s (a whpk_ key) or %s for scheme standard-v1a", sf.f("pubkey"), sf.f("key"))
	}
	_, keys, err := sf.loadPublicKeys()
	if err != nil {
		return nil, err
	}
	return auth.NewStandardV1aVerifier(keys, opts...)
}

// jwtOptions turns the jwt flags into a verifier's options and, for a
// scheme that signs too, the same plus the lifetime of the tokens it signs.
func (sf *schemeFlags) jwtOptions() ([]auth.JWTVerifierOption, []auth.JWTOption, error) {
	if sf.ttl < 0 {
		return nil, nil, usagef("%s must not be negative", sf.f("ttl"))
	}
	// The zero value of each flag keeps the scheme's default. One --ttl
	// for both sides: the lifetime sign writes is the longest verify
	// accepts, so that herald verifies what it signs.
	opts := []auth.JWTVerifierOption{auth.WithClock(sf.clock), auth.WithIssuer(sf.issuer),
		auth.WithAudience(sf.audience), auth.WithMaxLifetime(sf.ttl)}
	if sf.tolerance > 0 { // WithLeeway(0) would mean no leeway, not the default
		opts = append(opts, auth.WithLeeway(sf.tolerance))
	}
	if sf.allowMissingExp {
		opts = append(opts, auth.WithAllowMissingExp())
	}
	if sf.requireBodyHash {
		opts = append(opts, auth.WithRequireBodyHash())
	}
	// A scheme that signs takes the verifier's options and the lifetime
	// of the tokens it signs.
	signOpts := make([]auth.JWTOption, 0, len(opts)+1)
	for _, o := range opts {
		signOpts = append(signOpts, o)
	}
	signOpts = append(signOpts, auth.WithTTL(sf.ttl))
	return opts, signOpts, nil
}

// buildJWT makes a JWT scheme: HMAC from --secret, or asymmetric from --key
// (signs and verifies) or --pubkey (verifies only).
func (sf *schemeFlags) buildJWT(sign bool) (scheme, error) {
	opts, signOpts, err := sf.jwtOptions()
	if err != nil {
		return nil, err
	}
	given := 0
	for _, n := range []int{len(sf.secrets), len(sf.keys), len(sf.pubkeys)} {
		if n > 0 {
			given++
		}
	}
	if given > 1 {
		return nil, usagef("give one of %s (HS*), %s or %s for scheme jwt", sf.f("secret"), sf.f("key"), sf.f("pubkey"))
	}
	hs := strings.HasPrefix(sf.alg, "HS")
	switch sf.alg {
	case "", "HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA":
	default:
		return nil, usagef("unknown %s %s (want HS256, HS384, HS512, RS256, ES256 or EdDSA)", sf.f("alg"), showArg(sf.alg))
	}
	switch {
	case len(sf.secrets) > 0:
		if sf.alg != "" && !hs {
			return nil, usagef("%s %s needs %s or %s, not %s", sf.f("alg"), sf.alg, sf.f("key"), sf.f("pubkey"), sf.f("secret"))
		}
		alg := sf.alg
		if alg == "" {
			alg = "HS256"
		}
		secrets, err := sf.loadSecrets(rawSecret)
		if err != nil {
			return nil, err
		}
		return auth.NewJWT(alg, secrets, signOpts...)
	case hs:
		return nil, usagef("missing %s (a value, env:NAME or @FILE) for jwt %s", sf.f("secret"), sf.alg)
	case len(sf.keys) > 0:
		keys, err := sf.loadPrivateKeys()
		if err != nil {
			return nil, err
		}
		if sf.alg != "" && keys[0].Algorithm() != sf.alg {
			return nil, usagef("%s %s does not match the %s, a %s key", sf.f("alg"), sf.alg, sf.f("key"), keys[0].Algorithm())
		}
		return auth.NewJWTSigner(keys, signOpts...)
	case len(sf.pubkeys) > 0 && !sign:
		set, keys, err := sf.loadPublicKeys()
		if err != nil {
			return nil, err
		}
		if _, remote := set.(*auth.JWKS); remote && sf.alg != "" {
			// Each key of a fetched set decides its own algorithm: --alg
			// could not restrict them, and would be ignored.
			return nil, usagef("%s cannot restrict the keys of a JWKS URL, whose keys each name their algorithm", sf.f("alg"))
		}
		if sf.alg != "" {
			for _, k := range keys {
				if k.Algorithm() != sf.alg {
					return nil, usagef("%s %s does not match a %s, a %s key", sf.f("alg"), sf.alg, sf.f("pubkey"), k.Algorithm())
				}
			}
		}
		return auth.NewJWTVerifier(set, opts...)
	case sign:
		return nil, usagef("missing %s (HS*) or %s (RS256, ES256, EdDSA) for scheme jwt", sf.f("secret"), sf.f("key"))
	}
	return nil, usagef("missing %s (HS*), %s or %s for scheme jwt", sf.f("secret"), sf.f("key"), sf.f("pubkey"))
}
