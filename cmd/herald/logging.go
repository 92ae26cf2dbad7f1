package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/wire"
)

// logFlags are the flags of a long-running action that logs with log/slog
// (relay): --log-level and --log-format, and the one place that builds
// its logger from them.
type logFlags struct {
	levelName, format string
	level             slog.Level
}

// register defines --log-level and --log-format on fs.
func (l *logFlags) register(fs *flagSet) {
	fs.StringVar(&l.levelName, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", "text", "log `format`: text (log/slog key=value lines) or json (one JSON object a line, durations as Go duration strings such as \"1.503s\")")
}

// check validates the flags and fills level.
func (l *logFlags) check() error {
	if l.level.UnmarshalText([]byte(l.levelName)) != nil {
		return fmt.Errorf("unknown --log-level %s (want debug, info, warn or error)", showArg(l.levelName))
	}
	if l.format != "text" && l.format != "json" {
		return fmt.Errorf("unknown --log-format %s (want text or json)", showArg(l.format))
	}
	return nil
}

// json reports whether the logs are JSON lines.
func (l *logFlags) json() bool { return l.format == "json" }

// logger returns the logger that writes to w in the format and from the
// level of the flags. In JSON, a duration is its Go string ("1.503s", not
// 1503000000 nanoseconds, slog's default) and every character that is not
// printable is escaped, as text's quoting does: encoding/json would write
// the bidi and C1 controls as they are.
func (l *logFlags) logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.level}
	if !l.json() {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	opts.ReplaceAttr = durationString
	return slog.New(slog.NewJSONHandler(jsonEscapingWriter{w}, opts))
}

// durationString is the JSON logs' ReplaceAttr: a duration as its Go
// string, under its own key.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// jsonEscapingWriter writes JSON lines with every character that is not
// printable escaped (wire.EscapeJSON) but the line break that ends them; slog's
// handlers write a record, and its line break, in one Write.
type jsonEscapingWriter struct{ w io.Writer }

// Write escapes p and writes it.
func (e jsonEscapingWriter) Write(p []byte) (int, error) {
	line, nl := bytes.CutSuffix(p, []byte("\n"))
	out := wire.EscapeJSON(line)
	if nl {
		out = append(out[:len(out):len(out)], '\n')
	}
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// announce says on w that the relay's what (a server) listens at url: the
// line "WHAT on URL" in text, as scripts wait for it; in JSON, a record
// with the message what and the key url, written whatever --log-level.
func (l *logFlags) announce(w io.Writer, logger *slog.Logger, what, url string) {
	if !l.json() {
		fmt.Fprintf(w, "%s on %s\n", what, url)
		return
	}
	rec := slog.NewRecord(time.Now(), slog.LevelInfo, what, 0)
	rec.AddAttrs(slog.String("url", url))
	_ = logger.Handler().Handle(context.Background(), rec)
}

// fail reports err, that ended the action name, and returns exitFail: in
// JSON as an ERROR record, else as failure does.
func (l *logFlags) fail(w io.Writer, logger *slog.Logger, name string, err error) int {
	if !l.json() {
		return failure(w, name, err)
	}
	logger.Error("herald "+name+" failed", "err", err)
	return exitFail
}
