package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// jsonRecords parses every line of out as a JSON object with the keys
// time, level and msg, failing the test on a line that is not one.
func jsonRecords(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(out) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("line is not a JSON object (%v): %q", err, line)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k].(string); !ok {
				t.Errorf("line has no string %q: %q", k, line)
			}
		}
		recs = append(recs, rec)
	}
	return recs
}

// TestRelayLogFormatJSON runs a relay with --log-format json through a
// delivery and a stop: every line of its standard error is a JSON record,
// the ready lines included, a delivery's latency is a Go duration string,
// and no line shows a secret (startRelay's clean-up scans for the inbound
// one). A relay that fails to start says so in a JSON record too.
func TestRelayLogFormatJSON(t *testing.T) {
	dir := t.TempDir()
	secret, rcv := relayReceiver(t, dir)
	args := []string{"--store", "relay.db", "--dest", rcv.URL() + "/hook", "--name", "hook", "--secret", "env:WH_SECRET",
		"--cacert", "ca.pem", "--allow-private", "--workers", "1", "--log-level", "debug", "--log-format", "json"}
	p := startRelay(t, dir, []string{"WH_SECRET=" + secret}, append(args, "--admin-listen", "127.0.0.1:0")...)
	p.mustPost(t, event("ev-1", "job:ready"), nil)
	waitOK(t, rcv, 1, p)

	// A second relay on the same bbolt file cannot start: exit 1, in JSON.
	o := runOpts{dir: dir, env: []string{"WH_SECRET=" + secret}}
	r := expect(t, o, 1, []string{"locked"}, append([]string{"relay", "--listen", "127.0.0.1:0", "--in-insecure"}, args...)...)
	if recs := jsonRecords(t, r.stderr); len(recs) == 0 || recs[len(recs)-1]["level"] != "ERROR" {
		t.Errorf("a relay that cannot start logged %q, want an ERROR record last", r.stderr)
	}
	noLeak(t, r.all(), secret, strings.TrimPrefix(secret, "whsec_"))

	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d on SIGTERM, want 0\n%s", code, p.stderr())
	}
	out := p.stderr()
	noLeak(t, out, secret, strings.TrimPrefix(secret, "whsec_"))
	seen := map[string]bool{}
	for _, rec := range jsonRecords(t, out) {
		msg, _ := rec["msg"].(string)
		seen[msg] = true
		switch msg {
		case "webhook delivered":
			lat, ok := rec["latency"].(string)
			if d, err := time.ParseDuration(lat); !ok || err != nil || d <= 0 {
				t.Errorf("webhook delivered: latency %#v, want a Go duration string", rec["latency"])
			}
		case "relay listening", "relay admin listening":
			if u, _ := rec["url"].(string); !strings.HasPrefix(u, "http://127.0.0.1:") {
				t.Errorf("%s: url %#v", msg, rec["url"])
			}
		}
	}
	for _, msg := range []string{"relay started", "relay listening", "relay admin listening", "webhook delivered", "relay stopped"} {
		if !seen[msg] {
			t.Errorf("no %q record in:\n%s", msg, out)
		}
	}
}

// TestLogFormats checks the loggers that logFlags builds: text is log/slog's
// text handler as it is, byte for byte; JSON writes a duration as its Go
// string and escapes what is not printable (a bidi control, a C1 control,
// DEL), which encoding/json writes as it is, so that a line reads as what
// it holds; its line break is kept.
func TestLogFormats(t *testing.T) {
	record := func(l *slog.Logger) {
		l.Info("webhook delivered", "latency", 1503*time.Millisecond, "id", "a\u202eb\u0085c\x7fd\ne")
	}
	var got, want bytes.Buffer
	record((&logFlags{format: "text"}).logger(&got))
	record(slog.New(slog.NewTextHandler(&want, &slog.HandlerOptions{Level: slog.LevelInfo})))
	// The two lines are made a moment apart: their times may differ.
	untimed := func(line string) string {
		stamp, rest, _ := strings.Cut(line, " ")
		if _, err := time.Parse(time.RFC3339, strings.TrimPrefix(stamp, "time=")); err != nil {
			return line
		}
		return rest
	}
	if untimed(got.String()) != untimed(want.String()) {
		t.Errorf("text: %q, want %q", got.String(), want.String())
	}

	var js bytes.Buffer
	debug := &logFlags{format: "json", level: slog.LevelDebug}
	record(debug.logger(&js))
	debug.logger(&js).Debug("paused", "for", slog.DurationValue(90*time.Second))
	line, rest, _ := strings.Cut(js.String(), "\n")
	if !strings.Contains(line, `"latency":"1.503s"`) || !strings.Contains(line, `"id":"a\u202eb\u0085c\u007fd\ne"`) {
		t.Errorf("json: %s", line)
	}
	var rec struct{ Latency, ID string }
	if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Latency != "1.503s" || rec.ID != "a\u202eb\u0085c\x7fd\ne" {
		t.Errorf("json line decodes to %+v (%v)", rec, err)
	}
	if !strings.Contains(rest, `"for":"1m30s"`) || !strings.HasSuffix(rest, "}\n") || strings.Count(js.String(), "\n") != 2 {
		t.Errorf("json: %q", js.String())
	}
}
