package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// errNoDial is what headerTransport's dialer returns: a request that gets
// as far as dialing passed net/http's own checks of its header.
var errNoDial = errors.New("fuzz: no dialing")

// headerTransport is a real net/http Transport that never connects, to ask
// net/http whether it would send a header.
var headerTransport = &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
	return nil, errNoDial
}}

// FuzzHeaderFlag: parseHeaderFlags (send's and relay's --header) never
// panics; what it accepts is one header whose name and value net/http
// sends and reads back unchanged, with no line break or NUL, the value
// being the text typed (@@ for a leading @) or the file's content for
// @FILE; what it accepts parses again to the same header once written as
// a --header. line is the flag; when its value is @FILE, FILE is a file
// holding content.
func FuzzHeaderFlag(f *testing.F) {
	for _, s := range []struct {
		line    string
		content []byte
	}{
		{"Authorization: Bearer tok", nil},
		{": value", nil},
		{"X-A:", nil},
		{"X-A: a\r\nX-Injected: 1", nil},
		{"X-A: a\nb", nil},
		{"X-A\r\n: b", nil},
		{"X-A: a\x00b", nil},
		{"X-A: @", nil},
		{"X-A: @@", nil},
		{"X-A: @@@x", nil},
		{"X-A:  @@tok ", nil},
		{"X-A: \xff\xfe", nil},
		{"X\xff: v", nil},
		{"X-A: \u00a0v\u0085", nil},
		{"Connection: close", nil},
		{"Host: evil.example", nil},
		{"content-length: 5", nil},
		{"Trailer: X-A", nil},
		{"X-A: " + strings.Repeat("v", 1<<16), nil},
		{"X-A: @FILE", []byte("tok_1\n")},
		{"X-A: @FILE", []byte(" tok_1 \r\n")},
		{"X-A: @FILE", []byte("a\r\nX-Injected: 1")},
		{"X-A: @FILE", []byte("a\x00")},
		{"X-A: @FILE", []byte("@@x")},
		{"X-A: @FILE", []byte{}},
		{"X-A: @FILE", bytes.Repeat([]byte("v"), maxKeyFile+1)},
	} {
		f.Add(s.line, s.content)
	}
	file := filepath.Join(f.TempDir(), "value")
	f.Fuzz(func(t *testing.T, line string, content []byte) {
		name, typed, _ := strings.Cut(line, ":")
		typed = strings.Trim(typed, " \t")
		fromFile := strings.HasPrefix(typed, "@") && !strings.HasPrefix(typed, "@@")
		if fromFile {
			// Never a file the fuzzer names: /dev/tty or a FIFO would
			// wait for input, which is what @FILE is for.
			if err := os.WriteFile(file, content, 0o600); err != nil {
				t.Fatal(err)
			}
			line = name + ": @" + file
		}
		h, err := parseHeaderFlags([]string{line})
		if err != nil {
			if strings.Contains(err.Error(), file) {
				t.Fatalf("the error names the file: %v", err)
			}
			return
		}
		if len(h) != 1 {
			t.Fatalf("%q gave %d headers", line, len(h))
		}
		for key, vs := range h {
			if len(vs) != 1 {
				t.Fatalf("%q gave %d values", line, len(vs))
			}
			value := vs[0]
			if strings.ContainsAny(key+value, "\r\n\x00") {
				t.Fatalf("%q accepted a line break or NUL: %q: %q", line, key, value)
			}
			want := typed
			if fromFile {
				want = strings.Trim(strings.TrimRight(string(content), "\r\n"), " \t")
			} else if strings.HasPrefix(want, "@@") {
				want = want[1:]
			}
			if want != value {
				t.Fatalf("%q gave %q, want %q", line, value, want)
			}
			checkSent(t, key, value)
			again := value
			if strings.HasPrefix(again, "@") {
				again = "@" + again
			}
			h2, err := parseHeaderFlags([]string{key + ": " + again})
			if err != nil || h2.Get(key) != value || len(h2) != 1 {
				t.Fatalf("%q: %q does not parse again: %v, %v", line, key+": "+again, h2, err)
			}
		}
	})
}

// checkSent fails t unless net/http sends the header key: value, and reads
// it back unchanged.
func checkSent(t *testing.T, key, value string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(key, value)
	if _, err := headerTransport.RoundTrip(req); !errors.Is(err, errNoDial) {
		t.Fatalf("net/http refuses the accepted header %q: %q: %v", key, value, err)
	}
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatalf("net/http cannot read back %q: %q: %v", key, value, err)
	}
	if vs := got.Header.Values(key); len(vs) != 1 || vs[0] != value {
		t.Fatalf("header %q: %q reads back as %q", key, value, vs)
	}
}
