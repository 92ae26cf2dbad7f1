package natsstore

import (
	"errors"
	"strconv"
	"testing"

	"github.com/heraldhq/herald/outbox"
)

// FuzzSettleToken: the token a caller hands back to Settle is parsed
// without panicking; a token Lease makes (a revision in decimal) reads as
// its revision, and anything else (zero, leading zeros, a sign, spaces,
// too many digits) is ErrLeaseLost.
func FuzzSettleToken(f *testing.F) {
	for _, s := range []string{"1", "42", "18446744073709551615", "0", "", "07", "+7", "-7", " 7", "7\n",
		"18446744073709551616", "0x10", "1_000", "7+k", "١"} {
		f.Add(s, uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, token string, rev uint64) {
		if rev > 0 {
			if got, err := parseToken(strconv.FormatUint(rev, 10)); err != nil || got != rev {
				t.Fatalf("token of revision %d reads as %d, %v", rev, got, err)
			}
		}
		got, err := parseToken(token)
		switch {
		case err == nil && (got == 0 || strconv.FormatUint(got, 10) != token):
			t.Fatalf("token %q, which Lease never makes, read as revision %d", token, got)
		case err != nil && !errors.Is(err, outbox.ErrLeaseLost):
			t.Fatalf("token %q refused without ErrLeaseLost: %v", token, err)
		}
	})
}

// FuzzSubjectID: the subject of a delivery read back (the watcher does it
// for a record it cannot read, to drop it from the index) gives the id the
// store made it from, whatever the id's bytes; any other subject, however
// close, is no delivery's, never panics and never names an id whose
// subject it is not.
func FuzzSubjectID(f *testing.F) {
	o := &store{prefix: "herald.outbox."}
	for _, s := range []string{"herald.outbox.YQ", "herald.outbox.YR", "herald.outbox.YWI", "herald.outbox.YWJ",
		"herald.outbox.", "herald.outbox.YQ==", "herald.outbox.Y", "herald.outbox.YQ\n", "herald.outbox.Y\rQ",
		"herald.outbox.a.b", "other.YQ", "herald.outboxYQ", "herald.outbox.-_8"} {
		f.Add(s, "a")
	}
	f.Add("", "\x00\xff.*>")
	f.Fuzz(func(t *testing.T, subj, id string) {
		if got, ok := o.idOf(o.subject(id)); !ok || got != id {
			t.Fatalf("the subject of %q reads as %q, %v", id, got, ok)
		}
		if got, ok := o.idOf(subj); ok && o.subject(got) != subj {
			t.Fatalf("subject %q read as id %q, whose subject is %q", subj, got, o.subject(got))
		}
	})
}

// TestDropOtherSpellingOfSubject: a record the index cannot read, on a
// subject that decodes to a delivery's id but is not that id's subject
// (another writer's "YR" for the "YQ" of "a": the unpadded base64 decoder
// ignores trailing bits), dropped that delivery from the index, and it
// was not leased again until a restart. Only the delivery's own subject
// drops it now.
func TestDropOtherSpellingOfSubject(t *testing.T) {
	o := &store{prefix: "herald.outbox.", entries: map[string]*entry{}}
	o.entries["a"] = &entry{meta: meta{ID: "a", State: stateDead}, rev: 5}
	o.dropLocked("herald.outbox.YR", 9)
	if o.entries["a"] == nil {
		t.Fatal("a record on another spelling of a's subject dropped a from the index")
	}
	o.dropLocked(o.subject("a"), 9)
	if o.entries["a"] != nil {
		t.Fatal("an unreadable record on a's own subject left a in the index")
	}
}
