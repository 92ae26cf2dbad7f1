package auth

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenLength bounds a Bearer token; longer ones are refused with
// [ErrMalformed] before any parsing.
const maxTokenLength = 8 << 10

// Claims that herald adds to the registered ones (iss, aud, iat, exp, jti).
const (
	// claimBodySHA256 binds a token to the exact body: the unpadded
	// base64url SHA-256 of the body bytes.
	claimBodySHA256 = "body_sha256"
	// claimTopic carries [Message.Topic] when it is set.
	claimTopic = "topic"
)

// hmacAlgs maps the HMAC JWT algorithms to their minimum key length: the
// hash size, as RFC 7518 section 3.2 requires.
var hmacAlgs = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// asymmetricAlgs are the algorithms of [PublicKey] and [PrivateKey].
var asymmetricAlgs = []string{algEdDSA, algES256, algRS256}

// ErrClaims: a JWT claim (iss, aud, a required claim) is wrong or missing.
var ErrClaims = errors.New("invalid token claims")

// ErrUnknownKey: a JWT names a kid that no configured key has, or names
// none where a [*JWKS] holds several keys it could be.
var ErrUnknownKey = errors.New("unknown key id")

// jwtScheme is the scheme behind [NewJWT]; see its doc.
type jwtScheme struct {
	o options

	// Signing; method is nil for a verifier.
	method  jwt.SigningMethod
	signKey sealed[any] // []byte for HS*, else a crypto.Signer
	kid     string

	// Verifying: HMAC secrets, or a key set.
	hmacKeys []sealed[[]byte] // HMAC secrets, in order
	keys     KeySet
	methods  []string // the algorithms the parser accepts
	parser   *jwt.Parser
}

// NewJWT returns an HMAC JWT scheme that signs with the first secret and
// verifies with any of them (several secrets = rotation). alg is "HS256",
// "HS384" or "HS512"; it is the only algorithm accepted. Each secret must be
// at least as long as the hash (32, 48 or 64 bytes), else [ErrBadKey].
// [Verified.KeyID] is the position of the matching secret ("0", "1", ...).
//
// Options: [WithIssuer], [WithAudience], [WithTTL], [WithLeeway],
// [WithRequireBodyHash], [WithAllowMissingExp], [WithMaxLifetime],
// [WithClock].
//
// The scheme signs and verifies JWT Bearer webhooks: Authorization: Bearer <token>,
// with the delivery id in both webhook-id and the jti claim, and the body
// bound to the token by its SHA-256 in the body_sha256 claim.
//
// Signed tokens carry iss ([WithIssuer]), aud ([WithAudience], else the
// destination URL without its query, fragment or user info), iat, exp
// ([WithTTL]), jti, topic (when the message has one), body_sha256, and a kid
// header when the key has an ID.
//
// A verifier accepts exactly the algorithms of its keys: HS* tokens only
// when built by [NewJWT] with that HS algorithm, EdDSA/ES256/RS256 tokens only
// for a key of that type; "none" never; a token with a crit header never.
// It requires iat and exp (exp unless [WithAllowMissingExp]), refuses a
// token that lives longer than [WithMaxLifetime] (exp - iat over 10
// minutes by default), iat or nbf in the future and an exp in the past
// beyond [WithLeeway], checks iss and aud when configured, and checks
// body_sha256 whenever present (always required with
// [WithRequireBodyHash]).
//
// Make one with [NewJWT] (HMAC), [NewJWTSigner] (private keys) or
// [NewJWTVerifier] (public keys or a JWKS). The Scheme is safe for concurrent use.
func NewJWT(alg string, secrets []Secret, opts ...JWTOption) (*Scheme, error) {
	min, ok := hmacAlgs[alg]
	if !ok {
		if slices.Contains(asymmetricAlgs, alg) {
			return nil, fmt.Errorf("auth: %s: %w: %s takes keys: use NewJWTSigner or NewJWTVerifier", schemeJWT, ErrBadKey, alg)
		}
		return nil, fmt.Errorf("auth: %s: %w: %q is not HS256, HS384 or HS512", schemeJWT, ErrBadKey, alg)
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("auth: %s: %w: no secret given", schemeJWT, ErrBadKey)
	}
	j := &jwtScheme{o: buildOptions(opts, JWTOption.jwt), method: jwt.GetSigningMethod(alg), methods: []string{alg}}
	for i, s := range secrets {
		if s.size() < min {
			return nil, fmt.Errorf("auth: %s: %w: secret %d is %d bytes, %s needs at least %d", schemeJWT, ErrBadKey, i, s.size(), alg, min)
		}
		j.hmacKeys = append(j.hmacKeys, seal(append([]byte(nil), s.Bytes()...)))
	}
	j.signKey = seal[any](j.hmacKeys[0].open())
	j.parser = j.newParser()
	return &Scheme{s: j}, nil
}

// NewJWTSigner returns a JWT scheme that signs with keys[0] (its algorithm:
// EdDSA, ES256 or RS256; its ID as kid) and verifies with the public halves
// of all keys, as [NewJWTVerifier] would. A key made by [NewPrivateKey]
// from a crypto.Signer held in a KMS or an HSM signs through that signer.
//
// Options: as for [NewJWT].
func NewJWTSigner(keys []PrivateKey, opts ...JWTOption) (*Scheme, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: %s: %w: no key given", schemeJWT, ErrBadKey)
	}
	pubs := make(PublicKeys, len(keys))
	for i, k := range keys {
		if k.isZero() {
			return nil, fmt.Errorf("auth: %s: %w: key %d is empty", schemeJWT, ErrBadKey, i)
		}
		pubs[i] = k.Public()
	}
	j, err := newJWTVerifierOptions(pubs, buildOptions(opts, JWTOption.jwt))
	if err != nil {
		return nil, err
	}
	j.method = jwt.GetSigningMethod(keys[0].Algorithm())
	if !isGoPrivateKey(keys[0].Signer()) {
		j.method = opaqueMethod{alg: keys[0].Algorithm()}
	}
	j.signKey = seal[any](keys[0].Signer())
	j.kid = keys[0].ID()
	return &Scheme{s: j}, nil
}

// NewJWTVerifier returns a JWT scheme that verifies with the public keys of
// keys: a fixed [PublicKeys] list, a [*JWKS] fetched from a URL, or any
// [KeySet]. Its Sign fails: it holds no private key. A token is checked only
// against keys of its own algorithm, chosen by its kid when it has one;
// an unknown kid fails with [ErrUnknownKey], as does a token without a kid
// against a JWKS that holds several keys of its algorithm. A token whose
// signature none of a JWKS's keys matches has the set fetched again, within
// its refresh limits, and is checked once more against a key the fetch
// brought for its kid: issuers may rotate a key and keep its kid.
// [Verified.KeyID] is the token's kid, else the matching key's ID, else its
// position.
//
// Options: as for [NewJWT] but [WithTTL], which only a signer uses.
func NewJWTVerifier(keys KeySet, opts ...JWTVerifierOption) (*Scheme, error) {
	return wrap(newJWTVerifierOptions(keys, buildOptions(opts, JWTVerifierOption.jwt)))
}

// newJWTVerifierOptions builds the verifying half of [NewJWTVerifier] and
// [NewJWTSigner] from options already applied.
func newJWTVerifierOptions(keys KeySet, o options) (*jwtScheme, error) {
	j := &jwtScheme{o: o, keys: keys}
	switch ks := keys.(type) {
	case nil:
		return nil, fmt.Errorf("auth: %s: %w: no key set given", schemeJWT, ErrBadKey)
	case PublicKeys:
		if len(ks) == 0 {
			return nil, fmt.Errorf("auth: %s: %w: no key given", schemeJWT, ErrBadKey)
		}
		for i, k := range ks {
			if k.isZero() {
				return nil, fmt.Errorf("auth: %s: %w: key %d is empty", schemeJWT, ErrBadKey, i)
			}
			if !slices.Contains(j.methods, k.Algorithm()) {
				j.methods = append(j.methods, k.Algorithm())
			}
		}
		j.keys = slices.Clone(ks)
	case *JWKS:
		if !ks.usable() {
			return nil, fmt.Errorf("auth: %s: %w: nil or zero JWKS (make it with NewJWKS)", schemeJWT, ErrBadKey)
		}
		j.methods = asymmetricAlgs
	default:
		j.methods = asymmetricAlgs
	}
	j.parser = j.newParser()
	return j, nil
}

// newParser builds the golang-jwt parser for j's options and algorithms.
func (j *jwtScheme) newParser() *jwt.Parser {
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(j.methods),
		jwt.WithLeeway(j.o.leeway),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(j.o.now),
		jwt.WithStrictDecoding(),
	}
	if !j.o.allowMissingExp {
		popts = append(popts, jwt.WithExpirationRequired())
	}
	if j.o.issuer != "" {
		popts = append(popts, jwt.WithIssuer(j.o.issuer))
	}
	if j.o.audience != "" {
		popts = append(popts, jwt.WithAudience(j.o.audience))
	}
	return jwt.NewParser(popts...)
}

// Sign sets Authorization: Bearer <token> and webhook-id on h.
func (j *jwtScheme) Sign(h http.Header, m Message) error {
	if j.method == nil {
		return fmt.Errorf("auth: %s: %w", schemeJWT, errNoPrivateKey)
	}
	if err := checkMessageID(schemeJWT, m.ID); err != nil {
		return err
	}
	now := signingTime(m, j.o.now)
	claims := jwt.MapClaims{
		"iat":           now.Unix(),
		"exp":           now.Add(j.o.ttl).Unix(),
		"jti":           m.ID,
		claimBodySHA256: bodySHA256(m.Body),
	}
	if j.o.issuer != "" {
		claims["iss"] = j.o.issuer
	}
	if aud := j.o.audience; aud != "" {
		claims["aud"] = aud
	} else if aud := audienceOf(m.URL); aud != "" {
		claims["aud"] = aud
	}
	if m.Topic != "" {
		claims[claimTopic] = m.Topic
	}
	tok := jwt.NewWithClaims(j.method, claims)
	if j.kid != "" {
		tok.Header["kid"] = j.kid
	}
	s, err := tok.SignedString(j.signKey.open())
	if err != nil {
		// golang-jwt's signing errors name key types, never key material.
		return fmt.Errorf("auth: %s: signing: %w", schemeJWT, err)
	}
	setHeader(h, HeaderAuthorization, "Bearer "+s)
	setHeader(h, HeaderWebhookID, m.ID)
	return nil
}

// bodySHA256 returns the value of the body_sha256 claim for body: its
// SHA-256, base64url-encoded without padding.
func bodySHA256(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// audienceOf returns the default aud for a destination URL: the URL without
// user info, query or fragment, which may hold credentials. Empty when the
// URL does not parse.
func audienceOf(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// Verify checks the Bearer token of a request against body; it is
// VerifyContext with a background context. Prefer VerifyContext when the key
// set may fetch (a [*JWKS]), so that the request's context bounds the fetch.
func (j *jwtScheme) Verify(h http.Header, body []byte) (Verified, error) {
	return j.VerifyContext(context.Background(), h, body)
}

// VerifyContext checks the Bearer token of a request against body. ctx
// bounds any key fetch. Errors: [ErrNoSignature] without a Bearer token;
// [ErrMalformed] for a token that does not parse, is longer than
// 8 KiB or has a crit header (herald implements no critical
// extension, so RFC 7515 has it refuse any); [ErrBadSignature] for an algorithm the keys do not allow;
// [ErrUnknownKey]; [ErrBadSignature]; [ErrExpired];
// [ErrClaims] for a wrong iss or aud, a missing iat, exp or body_sha256, an iat, exp or nbf outside 1970 to 9999, a
// lifetime (exp - iat) over [WithMaxLifetime], a jti
// that is not a short non-empty string or contradicts webhook-id;
// [ErrBadSignature] when body_sha256 does not match body. Verified.ID is
// the jti, else derived from the token's signature (see [Verified.ID]).
func (j *jwtScheme) VerifyContext(ctx context.Context, h http.Header, body []byte) (Verified, error) {
	raw, err := bearerToken(h)
	if err != nil {
		return Verified{}, err
	}
	var (
		kid     string
		matched []jwt.VerificationKey // candidate keys handed to golang-jwt
		names   []string
		keyErr  error
	)
	keyfunc := func(t *jwt.Token) (any, error) {
		if _, present := t.Header["crit"]; present {
			// RFC 7515 section 4.1.11: a recipient must refuse a token
			// naming an extension it does not implement, and herald
			// implements none; an empty list is invalid too.
			keyErr = fmt.Errorf("auth: %s: %w: token names critical header extensions (crit), none of which is implemented", schemeJWT, ErrMalformed)
			return nil, keyErr
		}
		kid, matched, names, keyErr = j.candidates(ctx, t)
		if keyErr != nil {
			return nil, keyErr
		}
		if len(matched) == 1 {
			return matched[0], nil
		}
		return jwt.VerificationKeySet{Keys: matched}, nil
	}
	claims := jwt.MapClaims{}
	token, err := j.parser.ParseWithClaims(raw, claims, keyfunc)
	if err != nil && keyErr == nil && matched != nil && errors.Is(err, jwt.ErrTokenSignatureInvalid) && j.rotated(ctx, token, kid, matched) {
		// The issuer has a new key under the token's kid: one more check.
		claims = jwt.MapClaims{}
		token, err = j.parser.ParseWithClaims(raw, claims, keyfunc)
	}
	if err != nil {
		if keyErr != nil {
			return Verified{}, keyErr
		}
		return Verified{}, j.mapError(err, token)
	}

	if err := checkBodyHash(claims, body, j.o.requireBodyHash); err != nil {
		return Verified{}, err
	}
	if err := checkDates(claims); err != nil {
		return Verified{}, err
	}
	until, err := j.checkLifetime(claims)
	if err != nil {
		return Verified{}, err
	}
	id, err := tokenID(claims, h, token)
	if err != nil {
		return Verified{}, err
	}
	v := Verified{Scheme: schemeJWT, ID: id, KeyID: kid, Claims: claims, replayUntil: until}
	if iat, err := claims.GetIssuedAt(); err == nil && iat != nil {
		v.Timestamp = iat.Time
	}
	if v.KeyID == "" {
		v.KeyID = names[0]
		if len(matched) > 1 {
			// Rotation without a kid: find which key signed, for the report.
			text := raw[:strings.LastIndexByte(raw, '.')]
			for i, k := range matched {
				if token.Method.Verify(text, token.Signature, k) == nil {
					v.KeyID = names[i]
					break
				}
			}
		}
	}
	return v, nil
}

// bearerToken returns the token of the one Authorization: Bearer header.
func bearerToken(h http.Header) (string, error) {
	v, err := singleHeader(h, HeaderAuthorization, len("Bearer ")+maxTokenLength, schemeJWT, ErrNoSignature)
	if err != nil {
		return "", err
	}
	scheme, tok, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("auth: %s: %w: Authorization is not a Bearer token", schemeJWT, ErrNoSignature)
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" {
		return "", fmt.Errorf("auth: %s: %w: empty Bearer token", schemeJWT, ErrMalformed)
	}
	if !compactJWS(tok) {
		return "", fmt.Errorf("auth: %s: %w: Bearer token has a character outside base64url and '.'", schemeJWT, ErrMalformed)
	}
	return tok, nil
}

// compactJWS reports whether tok holds only what a compact JWS may: the
// base64url alphabet and dots (RFC 7515 section 7.1). Go's base64 decoders
// skip CR and LF, so without this check a token with one inserted in its
// signature would verify as the token signed: another string for the same
// signature, which a cache of seen tokens would take for a new one.
func compactJWS(tok string) bool {
	for i := 0; i < len(tok); i++ {
		switch c := tok[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// rotated is for a token that none of its candidate keys (tried) verifies.
// From a [*JWKS], it fetches the set again, within the set's refresh
// limits, and reports whether the token's kid now selects a key of its
// algorithm that was not tried: issuers may rotate a key and keep its kid.
func (j *jwtScheme) rotated(ctx context.Context, token *jwt.Token, kid string, tried []jwt.VerificationKey) bool {
	set, ok := j.keys.(*JWKS)
	if !ok || token == nil || token.Method == nil {
		return false
	}
	keys := make([]crypto.PublicKey, len(tried))
	for i, k := range tried {
		keys[i] = k
	}
	return set.refetch(ctx, kid, token.Method.Alg(), keys)
}

// candidates returns the keys a token may be verified with, their names for
// [Verified.KeyID], and the token's kid ("" for HMAC secrets, which are
// named by position only). The token's alg is already one of
// j.methods (the parser checks that first).
func (j *jwtScheme) candidates(ctx context.Context, t *jwt.Token) (kid string, keys []jwt.VerificationKey, names []string, err error) {
	if k, present := t.Header["kid"]; present {
		s, ok := k.(string)
		if !ok || s == "" || len(s) > maxIDLen {
			return "", nil, nil, fmt.Errorf("auth: %s: %w: kid header is not a short string", schemeJWT, ErrMalformed)
		}
		kid = s
	}
	alg := t.Method.Alg()
	if j.hmacKeys != nil {
		keys = make([]jwt.VerificationKey, len(j.hmacKeys))
		names = make([]string, len(j.hmacKeys))
		for i, k := range j.hmacKeys {
			keys[i], names[i] = k.open(), strconv.Itoa(i)
		}
		// Secrets have no IDs: the KeyID is the matching one's position,
		// not a kid the token names.
		return "", keys, names, nil
	}
	pubs, err := j.keys.Keys(ctx, kid)
	if err != nil {
		if !errors.Is(err, ErrUnknownKey) {
			err = fmt.Errorf("auth: %s: %w: %w", schemeJWT, ErrUnknownKey, err)
		}
		return "", nil, nil, err
	}
	for i, k := range pubs {
		if k.Algorithm() == alg {
			keys = append(keys, k.Key())
			names = append(names, keyName(k.ID(), i))
		}
	}
	if len(keys) == 0 {
		return "", nil, nil, fmt.Errorf("auth: %s: %w: no %s key for this token", schemeJWT, errAlgorithm, alg)
	}
	if _, remote := j.keys.(*JWKS); remote && kid == "" && len(keys) > 1 {
		// Each key tried costs a signature check, and a fetched set may
		// hold hundreds: a forged token without a kid must not buy that
		// many for the price of one request.
		return "", nil, nil, fmt.Errorf("auth: %s: %w: token names no kid, and the JWKS holds %d %s keys", schemeJWT, ErrUnknownKey, len(keys), alg)
	}
	return kid, keys, names, nil
}

// jwtErrors maps golang-jwt's errors to the package's sentinels, with a
// short reason of our own, in the order [jwtScheme.mapError] tries them (a
// token can fail several claims at once). An empty reason asks
// [jwtScheme.missingClaims] which claims are missing.
var jwtErrors = []struct {
	from, to error
	reason   string
}{
	{jwt.ErrTokenMalformed, ErrMalformed, "token does not parse"},
	{jwt.ErrTokenUnverifiable, errAlgorithm, "token names no known algorithm"},
	{jwt.ErrTokenExpired, ErrExpired, "token expired (exp)"},
	{jwt.ErrTokenUsedBeforeIssued, errNotYetValid, "token issued in the future (iat)"},
	{jwt.ErrTokenNotValidYet, errNotYetValid, "token not valid yet (nbf)"},
	{jwt.ErrTokenRequiredClaimMissing, ErrClaims, ""},
	{jwt.ErrTokenInvalidAudience, ErrClaims, "wrong aud"},
	{jwt.ErrTokenInvalidIssuer, ErrClaims, "wrong iss"},
	{jwt.ErrInvalidType, ErrClaims, "a registered claim has the wrong type"},
}

// mapError turns a golang-jwt error into one of the package's sentinels,
// with a short reason of our own: golang-jwt's texts are not repeated, so
// nothing of the token can leak through them (a wrong aud or iss names
// the value this verifier wants, from its own options, not the token's).
// golang-jwt reports a bad signature (or a refused algorithm) alone,
// before it checks any claim.
func (j *jwtScheme) mapError(err error, token *jwt.Token) error {
	wrap := func(sentinel error, reason string) error {
		return fmt.Errorf("auth: %s: %w: %s", schemeJWT, sentinel, reason)
	}
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		if token == nil || token.Method == nil || !slices.Contains(j.methods, token.Method.Alg()) {
			alg := "unknown"
			if token != nil && token.Method != nil {
				alg = token.Method.Alg()
			}
			return wrap(errAlgorithm, fmt.Sprintf("%q is not among %v", alg, j.methods))
		}
		return wrap(ErrBadSignature, "token signature does not match")
	}
	for _, e := range jwtErrors {
		if errors.Is(err, e.from) {
			switch {
			case e.reason == "":
				return wrap(e.to, j.missingClaims(token))
			case e.from == jwt.ErrTokenInvalidAudience:
				return wrap(e.to, fmt.Sprintf("%s: the token is not for %q (WithAudience; a signer without it writes its destination URL)", e.reason, j.o.audience))
			case e.from == jwt.ErrTokenInvalidIssuer:
				return wrap(e.to, fmt.Sprintf("%s: the token is not from %q (WithIssuer)", e.reason, j.o.issuer))
			}
			return wrap(e.to, e.reason)
		}
	}
	return wrap(ErrClaims, "token claims are invalid")
}

// missingClaims says which of the claims j requires the token lacks, for
// the error of golang-jwt's ErrTokenRequiredClaimMissing, which does not
// say: "token has no aud claim", or "token has no exp claim, no aud claim".
func (j *jwtScheme) missingClaims(token *jwt.Token) string {
	var claims jwt.MapClaims
	if token != nil {
		claims, _ = token.Claims.(jwt.MapClaims)
	}
	var missing []string
	add := func(name string, absent bool) {
		if absent {
			missing = append(missing, "no "+name+" claim")
		}
	}
	_, hasIat := claims["iat"]
	_, hasExp := claims["exp"]
	iss, _ := claims.GetIssuer()
	aud, _ := claims.GetAudience()
	add("iat", !hasIat)
	add("exp", !hasExp && !j.o.allowMissingExp)
	add("iss", iss == "" && j.o.issuer != "")
	add("aud", len(aud) == 0 && j.o.audience != "")
	if len(missing) == 0 {
		return "token lacks a required claim"
	}
	return "token has " + strings.Join(missing, ", ")
}

// maxNumericDate is the last second of the year 9999, the latest iat, exp
// or nbf a token may carry.
const maxNumericDate = 253402300799

// checkDates refuses an iat, exp or nbf claim outside 1970 to 9999.
// golang-jwt turns a number of seconds too large for an int64 into a time
// in the distant past, so that an nbf meant never to come would have
// passed as long gone.
func checkDates(claims jwt.MapClaims) error {
	for _, name := range [...]string{"iat", "exp", "nbf"} {
		v, present := claims[name]
		if !present {
			continue
		}
		if f, ok := v.(float64); !ok || !(f >= 0 && f <= maxNumericDate) {
			return fmt.Errorf("auth: %s: %w: %s is not a time from 1970 to 9999", schemeJWT, ErrClaims, name)
		}
	}
	return nil
}

// checkLifetime requires iat and bounds the token's life: exp - iat at most
// the maximum lifetime, or, without exp (allowed by WithAllowMissingExp),
// an end that maximum after iat. It returns that end plus the leeway: the
// last moment the token can pass, until which Middleware keeps its id.
func (j *jwtScheme) checkLifetime(claims jwt.MapClaims) (time.Time, error) {
	iat, err := claims.GetIssuedAt()
	if err != nil || iat == nil {
		return time.Time{}, fmt.Errorf("auth: %s: %w: token has no iat claim", schemeJWT, ErrClaims)
	}
	max := j.o.maxLifetime
	exp, err := claims.GetExpirationTime()
	if _, present := claims["exp"]; present && err == nil && exp == nil {
		// golang-jwt reads an exp of 0 as none: it is 1970, long gone.
		return time.Time{}, fmt.Errorf("auth: %s: %w: token expired in 1970 (exp 0)", schemeJWT, ErrExpired)
	}
	if err != nil || exp == nil {
		end := iat.Add(max).Add(j.o.leeway)
		if j.o.now().After(end) {
			return time.Time{}, fmt.Errorf("auth: %s: %w: token without exp is older than the %s lifetime allowed", schemeJWT, ErrExpired, max)
		}
		return end, nil
	}
	switch life := exp.Sub(iat.Time); {
	case life < 0:
		return time.Time{}, fmt.Errorf("auth: %s: %w: token expires (exp) before it is issued (iat)", schemeJWT, ErrClaims)
	case life > max:
		return time.Time{}, fmt.Errorf("auth: %s: %w: token lifetime exp - iat is %s, over the %s allowed", schemeJWT, ErrClaims, life, max)
	}
	return exp.Add(j.o.leeway), nil
}

// checkBodyHash checks the body_sha256 claim against body, when present or
// required.
func checkBodyHash(claims jwt.MapClaims, body []byte, required bool) error {
	v, present := claims[claimBodySHA256]
	if !present {
		if required {
			return fmt.Errorf("auth: %s: %w: token has no %s claim", schemeJWT, ErrClaims, claimBodySHA256)
		}
		return nil
	}
	got, ok := v.(string)
	sum := sha256.Sum256(body)
	var want [43]byte // unpadded base64url of 32 bytes
	base64.RawURLEncoding.Encode(want[:], sum[:])
	if !ok || subtle.ConstantTimeCompare([]byte(got), want[:]) != 1 {
		return fmt.Errorf("auth: %s: %w", schemeJWT, errBodyMismatch)
	}
	return nil
}

// tokenID returns [Verified.ID] for a verified token: its jti, else "sig:"
// and the SHA-256 of its signature. The webhook-id header is not signed:
// when the token has a jti the header must agree with it, and otherwise
// it is ignored.
func tokenID(claims jwt.MapClaims, h http.Header, token *jwt.Token) (string, error) {
	header := ""
	if vals := h[HeaderWebhookID]; len(vals) > 0 {
		if len(vals) > 1 || len(vals[0]) > maxIDLen {
			return "", fmt.Errorf("auth: %s: %w: repeated or oversized webhook-id header", schemeJWT, ErrMalformed)
		}
		header = vals[0]
	}
	v, present := claims["jti"]
	if !present {
		return signatureID(canonicalSignature(token.Method.Alg(), token.Signature)), nil
	}
	jti, ok := v.(string)
	if !ok || jti == "" || len(jti) > maxIDLen {
		return "", fmt.Errorf("auth: %s: %w: jti is not a string of 1 to %d bytes", schemeJWT, ErrClaims, maxIDLen)
	}
	if header != "" && header != jti {
		return "", fmt.Errorf("auth: %s: %w: webhook-id header differs from the jti claim", schemeJWT, ErrClaims)
	}
	return jti, nil
}

// p256HalfOrder is half the order of P-256, the largest low-S value.
var p256HalfOrder = new(big.Int).Rsh(elliptic.P256().Params().N, 1)

// canonicalSignature returns sig in a form that cannot be varied without
// the key. ECDSA accepts (r, n-s) wherever it accepts (r, s), so an ES256
// signature is returned with the smaller of the two; HMAC, RS256 and
// Go's Ed25519 verification admit one signature only, kept as it is.
func canonicalSignature(alg string, sig []byte) []byte {
	if alg != algES256 || len(sig) != 64 {
		return sig
	}
	s := new(big.Int).SetBytes(sig[32:])
	if s.Cmp(p256HalfOrder) <= 0 {
		return sig
	}
	low := make([]byte, 64)
	copy(low, sig[:32])
	s.Sub(elliptic.P256().Params().N, s).FillBytes(low[32:])
	return low
}
