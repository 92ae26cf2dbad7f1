package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldhq/herald/internal/version"
)

// The relay's observability: --admin-listen serves /metrics (Prometheus
// text, from an OpenTelemetry meter provider), /healthz and /readyz, and
// the outbox's dead letters under /outbox/ when it listens on loopback;
// --otlp-endpoint exports traces over OTLP/HTTP. Without them the relay
// sets no provider, and the library records nothing (the traceparent of
// events is still carried to the webhooks).

// telemetryFlags are relay's observability flags.
type telemetryFlags struct {
	adminListen, otlpEndpoint string
}

func (f *telemetryFlags) register(fs *flagSet) {
	fs.StringVar(&f.adminListen, "admin-listen", "", "serve GET /metrics (Prometheus), /healthz and /readyz on this `address` (and the dead letters under /outbox/ when it is a loopback address); default off")
	fs.StringVar(&f.otlpEndpoint, "otlp-endpoint", "", "export traces over OTLP/HTTP to this `URL` (such as http://127.0.0.1:4318/v1/traces); the OTEL_EXPORTER_OTLP_* environment variables apply; default off")
}

// otlpFileVars are the environment variables whose files the OTLP
// exporter reads whole when it is made.
var otlpFileVars = []string{
	"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_CLIENT_KEY", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
}

// check validates the flags, and with --otlp-endpoint the files that
// otlpFileVars name: each that exists must be a regular file of at most
// maxKeyFile bytes (checkConnFile), not /dev/zero or a FIFO.
func (f *telemetryFlags) check() error {
	if f.otlpEndpoint == "" {
		return nil
	}
	u, err := url.Parse(f.otlpEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("--otlp-endpoint must be an http:// or https:// URL (not shown)")
	}
	for _, v := range otlpFileVars {
		if name := os.Getenv(v); name != "" {
			if _, err := os.Stat(name); err == nil { // a missing one the exporter reports
				if err := checkConnFile(name, "the file of "+v); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// relayTelemetry holds the SDK providers the flags asked for; a nil one
// leaves the library off.
type relayTelemetry struct {
	tp      *sdktrace.TracerProvider
	mp      *sdkmetric.MeterProvider
	metrics http.Handler
}

// newTelemetry builds the providers the flags ask for. The SDK's errors
// (an export the collector refused, quoting its answer) go to logger, whose
// lines escape what they quote, instead of the SDK's default: raw to
// standard error.
func (f *telemetryFlags) newTelemetry(ctx context.Context, logger *slog.Logger) (*relayTelemetry, error) {
	t := &relayTelemetry{}
	if f.otlpEndpoint == "" && f.adminListen == "" {
		return t, nil
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("relay: telemetry", "err", err)
	}))
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "herald-relay"), attribute.String("service.version", version.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	if f.otlpEndpoint != "" {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(f.otlpEndpoint))
		if err != nil {
			return nil, errors.New("--otlp-endpoint: cannot make the OTLP exporter")
		}
		t.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	}
	if f.adminListen != "" {
		reg := prometheus.NewRegistry()
		exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(),
			otelprom.WithoutUnits(), otelprom.WithoutCounterSuffixes())
		if err != nil {
			return nil, fmt.Errorf("prometheus exporter: %w", err)
		}
		t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithResource(res))
		t.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	}
	return t, nil
}

// tracerProvider is the relay's tracer provider, nil when off (never a
// typed nil, which the library would take for a provider).
func (t *relayTelemetry) tracerProvider() trace.TracerProvider {
	if t.tp == nil {
		return nil
	}
	return t.tp
}

// meterProvider is the relay's meter provider, nil when off.
func (t *relayTelemetry) meterProvider() metric.MeterProvider {
	if t.mp == nil {
		return nil
	}
	return t.mp
}

// shutdown flushes the spans and metrics still buffered.
func (t *relayTelemetry) shutdown(logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if t.tp != nil {
		if err := t.tp.Shutdown(ctx); err != nil {
			logger.Warn("relay: exporting the last spans failed", "err", err)
		}
	}
	if t.mp != nil {
		_ = t.mp.Shutdown(ctx)
	}
}
