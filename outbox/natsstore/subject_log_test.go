package natsstore_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// TestUnreadableRecordSubjectShowsAsItself: a message on the outbox
// stream under a subject that holds a bidi or C1 control (NATS takes
// both; anyone who may publish there can put one) is logged as an
// unreadable record, with a subject and an error that show as
// themselves, whether its headers are not a record's or are another id's.
// (Both quoted the subject raw.)
func TestUnreadableRecordSubjectShowsAsItself(t *testing.T) {
	js := jetStream(t)
	cfg := freshConfig()
	logs := &syncbuf.Buffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	ob := open(t, js, cfg)
	ctx := context.Background()
	now := time.Now()
	if err := ob.Put(ctx, outbox.Delivery{ID: "a", Destination: "d", Body: []byte("{}"), Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.GetLastMsgForSubject(ctx, cfg.Subject+"."+base64.RawURLEncoding.EncodeToString([]byte("a")))
	if err != nil {
		t.Fatal(err)
	}
	garbage := nats.NewMsg(cfg.Subject + ".x\u202eevil")
	garbage.Data = []byte("not a record")
	other := nats.NewMsg(cfg.Subject + ".y\u0085evil")
	other.Header, other.Data = rec.Header, rec.Data // a's record on another subject
	for _, m := range []*nats.Msg{garbage, other} {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatalf("publish on %+q: %v", m.Subject, err)
		}
	}
	var lines []map[string]string
	for deadline := time.Now().Add(10 * time.Second); len(lines) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 2 unreadable records logged:\n%s", len(lines), logs.String())
		}
		lines = lines[:0]
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line map[string]string
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "outbox index: unreadable record" {
				lines = append(lines, line)
			}
		}
	}
	for _, line := range lines {
		for _, k := range []string{"subject", "error"} {
			if _, ok := wire.Displayable(line[k]); !ok {
				t.Errorf("%s logged as %+q, which does not show as itself", k, line[k])
			}
		}
	}
}

// TestUnreadableStateKeyShowsAsItself: a message published raw on the
// states bucket under a key that holds a bidi control (NATS's key-value
// clients refuse such a key, a raw publish does not) is logged as an
// unreadable state with a key and an error that show as themselves. (Both
// quoted the key raw.)
func TestUnreadableStateKeyShowsAsItself(t *testing.T) {
	js := jetStream(t)
	cfg := freshConfig()
	logs := &syncbuf.Buffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	open(t, js, cfg)
	msg := nats.NewMsg("$KV." + cfg.Stream + "_DEST.k\u202eey")
	msg.Data = []byte("damaged")
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var line map[string]string
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			if json.Unmarshal(sc.Bytes(), &line) == nil && strings.HasPrefix(line["msg"], "destination states: unreadable state") {
				break
			}
			line = nil
		}
		if line != nil {
			for _, k := range []string{"key", "error"} {
				if _, ok := wire.Displayable(line[k]); !ok {
					t.Errorf("%s logged as %+q, which does not show as itself", k, line[k])
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no unreadable state logged:\n%s", logs.String())
		}
	}
}
