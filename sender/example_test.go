package sender_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
)

// Deliver one signed webhook to an HTTPS endpoint that verifies it.
func ExampleSender_Send() {
	secret := auth.NewSecret([]byte("a shared secret of 32 bytes long"))
	std, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The receiving side: verify, then answer 204.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if _, err := std.Verify(r.Header, body); err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	// One Sender for the whole program; its zero value would do in
	// production, where the destination is public and its CA trusted.
	s := &sender.Sender{
		TLS:           &tls.Config{RootCAs: roots},
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, // the test server is on loopback
	}
	defer s.CloseIdleConnections()

	dest := sender.Destination{Name: "billing", URL: srv.URL + "/webhooks", Signer: std}
	res, err := s.Send(context.Background(), dest, sender.Message{
		Topic: "invoice:paid",
		Body:  []byte(`{"invoice":"in_1"}`),
	})
	switch {
	case errors.Is(err, sender.ErrGone):
		fmt.Println("disable the destination")
	case err != nil:
		fmt.Println("failed:", err)
	default:
		fmt.Println(res.Status, res.Attempts)
	}
	// Output: 204 1
}

func ExampleDestination_Wants() {
	d := sender.Destination{Topics: []string{"invoice:*", "*:deleted"}}
	fmt.Println(d.Wants("invoice:paid"), d.Wants("customer:created"), d.Wants("customer:deleted"))
	// Output: true false true
}

func ExampleValidatePattern() {
	for _, p := range []string{"job:*", "**", "job:**", "job:ready:now"} {
		fmt.Println(p, errors.Is(sender.ValidatePattern(p), sender.ErrInvalidPattern))
	}
	// Output:
	// job:* false
	// ** false
	// job:** true
	// job:ready:now true
}

func ExampleDeliveryError() {
	s := &sender.Sender{}
	_, err := s.Send(context.Background(), sender.Destination{URL: "http://hooks.example.com/in?token=secret"}, sender.Message{})
	var de *sender.DeliveryError
	if errors.As(err, &de) {
		fmt.Println(errors.Is(err, sender.ErrInsecureURL), de.Retryable)
	}
	// Output: true false
}

// A destination whose receiver demands more than a signature: a client
// certificate (mutual TLS) and an OAuth2 access token, with the Standard
// Webhooks signature in its own header. The token is fetched from the
// token endpoint through the same guarded connections, cached, and
// renewed before it expires and once on a 401.
func ExampleOAuth2() {
	cert, err := tls.LoadX509KeyPair("client.pem", "client.key")
	if err != nil {
		fmt.Println(err)
		return
	}
	std, err := auth.NewStandard([]auth.Secret{auth.NewSecret([]byte("a shared secret of 32 bytes long"))})
	if err != nil {
		fmt.Println(err)
		return
	}
	dest := sender.Destination{
		Name:       "billing",
		URL:        "https://billing.example.com/hooks",
		Signer:     std,
		ClientCert: &cert,
		OAuth2: &sender.OAuth2{
			TokenURL:     "https://auth.example.com/oauth/token",
			ClientID:     "herald",
			ClientSecret: auth.NewSecret([]byte("the client secret, from your secret store")),
			Scopes:       []string{"webhooks:write"},
		},
	}
	s := &sender.Sender{}
	if err := s.Validate(dest); err != nil { // refuses a jwt Signer with OAuth2, a guarded token URL...
		fmt.Println(err)
		return
	}
	res, err := s.Send(context.Background(), dest, sender.Message{Body: []byte(`{"type":"invoice.paid"}`)})
	fmt.Println(res.Status, err)
}
