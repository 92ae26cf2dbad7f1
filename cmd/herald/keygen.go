package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/heraldhq/herald/auth"
)

const keygenDoc = `Keygen makes a new secret or key pair for a scheme and prints it.

  standard       a whsec_ secret (32 random bytes)
  standard-v1a   an Ed25519 signing key (whsk_…, first line) and its public key (whpk_…)
  hub            a random secret of 64 hex digits
  stripe         a random whsec_-style secret (used as raw bytes, as Stripe does)
  jwt HS*        a random secret as long as the hash, in base64url (its text is the key, not decoded)
  jwt RS256, ES256, EdDSA
                 writes PREFIX.key (PKCS #8 PEM, mode 0600) and PREFIX.pub
                 (PKIX PEM) and prints the public key as a JWKS; --out is required

With --out, symmetric secrets go to PREFIX.secret (mode 0600) instead of
standard output, and a standard-v1a pair to PREFIX.key and PREFIX.pub (the
whpk_ key is printed). Existing files are never overwritten. The kid of a JWT
key is its RFC 7638 thumbprint; sign and verify compute the same kid from the
PEM files.`

const keygenExample = `herald keygen --scheme standard > secret.txt
herald keygen --scheme jwt --alg ES256 --out signing   # signing.key, signing.pub
herald keygen --scheme standard-v1a --out v1a          # v1a.key, v1a.pub`

// runKeygen implements "herald keygen".
func runKeygen(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("keygen", "herald keygen --scheme SCHEME [--alg ALG] [--out PREFIX]", keygenDoc, keygenExample)
	scheme := fs.String("scheme", "standard", "`scheme`: standard, standard-v1a, hub, stripe or jwt")
	alg := fs.String("alg", "", "jwt `algorithm`: HS256 (default), HS384, HS512, RS256, ES256 or EdDSA")
	out := fs.String("out", "", "write the key to files named `PREFIX`.key/.pub (or PREFIX.secret)")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageErr(stderr, "keygen", "unexpected argument %s", showArg(fs.Args()[0]))
	}
	if *alg != "" && *scheme != "jwt" {
		return usageErr(stderr, "keygen", "--alg applies to scheme jwt only")
	}
	var err error
	switch *scheme {
	case "standard":
		var s auth.Secret
		if s, err = auth.GenerateStandardSecret(); err == nil {
			err = emitSecret(stdout, stderr, *out, auth.FormatStandardSecret(s))
		}
	case "hub":
		var b []byte
		if b, err = randomBytes(32); err == nil {
			err = emitSecret(stdout, stderr, *out, hex.EncodeToString(b))
		}
	case "stripe":
		var b []byte
		if b, err = randomBytes(32); err == nil {
			err = emitSecret(stdout, stderr, *out, "whsec_"+base64.RawURLEncoding.EncodeToString(b))
		}
	case "standard-v1a":
		err = keygenV1a(stdout, stderr, *out)
	case "jwt":
		switch *alg {
		case "", "HS256", "HS384", "HS512":
			n := map[string]int{"": 32, "HS256": 32, "HS384": 48, "HS512": 64}[*alg]
			var b []byte
			if b, err = randomBytes(n); err == nil {
				err = emitSecret(stdout, stderr, *out, base64.RawURLEncoding.EncodeToString(b))
			}
		case "RS256", "ES256", "EdDSA":
			if *out == "" {
				return usageErr(stderr, "keygen", "--out PREFIX is required for jwt %s: the private key is written to PREFIX.key", *alg)
			}
			err = keygenJWT(stdout, stderr, *alg, *out)
		default:
			return usageErr(stderr, "keygen", "unknown --alg %s (want HS256, HS384, HS512, RS256, ES256 or EdDSA)", showArg(*alg))
		}
	default:
		return usageErr(stderr, "keygen", "unknown scheme %s (want standard, standard-v1a, hub, stripe or jwt)", showArg(*scheme))
	}
	if err != nil {
		return failure(stderr, "keygen", err)
	}
	return exitOK
}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("cannot read random bytes: %w", err)
	}
	return b, nil
}

// emitSecret prints secret, or writes it to PREFIX.secret when prefix is set.
func emitSecret(stdout, stderr io.Writer, prefix, secret string) error {
	if prefix == "" {
		_, err := fmt.Fprintln(stdout, secret)
		return err
	}
	name := prefix + ".secret"
	if err := writeNewFile(name, []byte(secret+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (use --secret @%s)\n", name, name)
	return nil
}

// keygenV1a makes an Ed25519 key pair for Standard Webhooks v1a.
func keygenV1a(stdout, stderr io.Writer, prefix string) error {
	k, err := auth.GeneratePrivateKey("EdDSA")
	if err != nil {
		return err
	}
	sk, err := auth.FormatStandardSigningKey(k)
	if err != nil {
		return err
	}
	pk, err := auth.FormatStandardPublicKey(k.Public())
	if err != nil {
		return err
	}
	if prefix == "" {
		_, err = fmt.Fprintf(stdout, "%s\n%s\n", sk, pk)
		return err
	}
	if err := writeKeyPair(prefix, []byte(sk+"\n"), []byte(pk+"\n")); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s.key (use --key @%s.key) and %s.pub\n", prefix, prefix, prefix)
	_, err = fmt.Fprintln(stdout, pk)
	return err
}

// keygenJWT makes an asymmetric JWT key, writes it as PEM files and prints
// its JWKS.
func keygenJWT(stdout, stderr io.Writer, alg, prefix string) error {
	k, err := auth.GeneratePrivateKey(alg)
	if err != nil {
		return err
	}
	priv, err := auth.MarshalPrivateKeyPEM(k)
	if err != nil {
		return err
	}
	pub, err := auth.MarshalPublicKeyPEM(k.Public())
	if err != nil {
		return err
	}
	jwks, err := auth.MarshalJWKS(k.Public())
	if err != nil {
		return err
	}
	if err := writeKeyPair(prefix, priv, pub); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s.key and %s.pub (kid %s)\n", prefix, prefix, k.ID())
	_, err = fmt.Fprintf(stdout, "%s\n", jwks)
	return err
}

// writeKeyPair writes a private key to PREFIX.key (mode 0600) and its
// public key to PREFIX.pub. It fails before writing anything if either file
// exists, so that a key pair is never half written.
func writeKeyPair(prefix string, priv, pub []byte) error {
	for _, name := range []string{prefix + ".key", prefix + ".pub"} {
		if _, err := os.Lstat(name); err == nil {
			return fmt.Errorf("%s already exists; not overwriting it", name)
		}
	}
	if err := writeNewFile(prefix+".key", priv, 0o600); err != nil {
		return err
	}
	if err := writeNewFile(prefix+".pub", pub, 0o644); err != nil {
		os.Remove(prefix + ".key") // ours: writeNewFile made it
		return err
	}
	return nil
}

// writeNewFile writes data to a new file name with mode perm, refusing to
// replace an existing file. A file it cannot write whole (a full disk) is
// removed, so that it neither passes for a key nor stops the next run.
func writeNewFile(name string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; not overwriting it", name)
		}
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return err
	}
	return nil
}
