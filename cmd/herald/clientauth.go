package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
)

// destAuthConfig is the part of a relay destination's configuration that
// authenticates the relay to the receiver beyond the signature: a client
// certificate (mutual TLS) and OAuth2 client credentials. It is embedded
// in destConfig, so its keys sit beside "url" and "scheme".
type destAuthConfig struct {
	ClientCert string       `json:"client_cert"`
	ClientKey  string       `json:"client_key"`
	OAuth2     *oauthConfig `json:"oauth2"`
}

// oauthConfig is the "oauth2" object of a relay destination.
type oauthConfig struct {
	TokenURL     string   `json:"token_url"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scopes       []string `json:"scopes"`
}

// apply sets dest's ClientCert and OAuth2 from the configuration. Errors
// name keys, never values.
func (c *destAuthConfig) apply(dest *sender.Destination) error {
	if c.ClientCert != "" || c.ClientKey != "" {
		cert, err := loadClientCert(c.ClientCert, c.ClientKey, "client_cert", "client_key")
		if err != nil {
			return err
		}
		dest.ClientCert = cert
	}
	if c.OAuth2 == nil {
		return nil
	}
	o := c.OAuth2
	switch {
	case o.TokenURL == "":
		return errors.New("oauth2: missing token_url")
	case o.ClientID == "":
		return errors.New("oauth2: missing client_id")
	}
	secret, err := resolveSecret(o.ClientSecret)
	if err != nil {
		return fmt.Errorf("oauth2: client_secret: %w", err)
	}
	if secret == "" {
		return errors.New("oauth2: missing client_secret (a value, env:NAME or @FILE)")
	}
	dest.OAuth2 = &sender.OAuth2{
		TokenURL: o.TokenURL, ClientID: o.ClientID,
		ClientSecret: auth.NewSecret([]byte(secret)), Scopes: o.Scopes,
	}
	return nil
}

// loadClientCert loads a client certificate chain and its private key,
// each given as @FILE, a file name, env:NAME or the PEM itself; certName
// and keyName name them in errors, which never show the key or its file's
// name.
func loadClientCert(certArg, keyArg, certName, keyName string) (*tls.Certificate, error) {
	if certArg == "" || keyArg == "" {
		return nil, fmt.Errorf("%s and %s go together", certName, keyName)
	}
	certPEM, err := resolvePEM(certArg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certName, err)
	}
	keyPEM, err := resolvePEM(keyArg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyName, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls describes the mismatch or the block types, never
		// the key bytes.
		return nil, fmt.Errorf("cannot load %s/%s: %w", certName, keyName, err)
	}
	return &cert, nil
}

// resolvePEM returns the PEM document a value designates: the value
// itself when it is PEM, the variable's value for env:NAME, else the
// content of the file it names (@FILE or FILE). Errors never show the
// value.
func resolvePEM(v string) ([]byte, error) {
	switch {
	case strings.Contains(v, "-----BEGIN "):
		return []byte(v), nil
	case strings.HasPrefix(v, "env:"), strings.HasPrefix(v, "@"):
		s, err := resolveSecret(v)
		return []byte(s), err
	}
	return readFile(v, "the file it names", maxKeyFile)
}
