package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
)

// deliverConcurrency lists the concurrency levels of section 2.
var deliverConcurrency = []int{1, 16, 64}

// runDeliver measures section 2: 1 KiB HTTPS deliveries per second on
// loopback by herald's Sender.Send (signed), a tuned net/http client and
// go-retryablehttp's default client (both unsigned), at each concurrency.
func runDeliver(cfg config) ([]Row, []error) {
	srv := startTLS(http.HandlerFunc(noContent))
	defer srv.Close()
	b := body(1 << 10)

	secret, err := auth.GenerateStandardSecret()
	if err != nil {
		return nil, []error{err}
	}
	std, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		return nil, []error{err}
	}
	s := &sender.Sender{TLS: srv.tlsConfig(), AllowNetworks: loopback}
	defer s.CloseIdleConnections()
	dest := sender.Destination{Name: "bench", URL: srv.URL + "/hook", Signer: std}
	heraldOp := func(ctx context.Context) error {
		_, err := s.Send(ctx, dest, sender.Message{Body: b})
		return err
	}

	tr := &http.Transport{
		TLSClientConfig:     srv.tlsConfig(),
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	defer tr.CloseIdleConnections()
	rawClient := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	rawOp := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, dest.URL, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		return finish(rawClient.Do(req))
	}

	rc := retryablehttp.NewClient()
	rc.Logger = nil
	rc.HTTPClient.Transport.(*http.Transport).TLSClientConfig = srv.tlsConfig()
	defer rc.HTTPClient.CloseIdleConnections()
	retryOp := func(ctx context.Context) error {
		req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, dest.URL, b)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		return finish(rc.Do(req))
	}

	var rows []Row
	var errs []error
	for _, conc := range deliverConcurrency {
		cs := []loadContender{
			{"herald", heraldOp},
			{"net/http tuned", rawOp},
			{"go-retryablehttp default", retryOp},
		}
		stats, err := runLoads(conc, cfg.loadReps, cfg.loadDur, cfg.warm, cs)
		name := fmt.Sprintf("HTTPS 1 KiB, concurrency %d", conc)
		if err != nil {
			errs = append(errs, fmt.Errorf("deliver %s: %w", name, err))
			rows = append(rows, Row{Section: "deliver", Case: name, Ratio: math.NaN(), Note: "FAILED: " + err.Error()})
			continue
		}
		for i := 1; i < len(cs); i++ {
			ratio := stats[0].rate / stats[i].rate
			row := Row{
				Section:  "deliver",
				Case:     name,
				Herald:   fmtLoad(stats[0], "req/s"),
				Baseline: cs[i].name,
				BaseFig:  fmtLoad(stats[i], "req/s"),
				Ratio:    ratio,
			}
			switch {
			case i == 1:
				row.Target, row.Met = "≥ 0.9×", ratio >= 0.9
			case i == 2 && conc == 64:
				row.Target, row.Met = "≥ 10×", ratio >= 10
			}
			rows = append(rows, row)
		}
	}
	return rows, errs
}

// finish drains and closes a response and turns a non-2xx status into an
// error.
func finish(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
