package auth

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"testing"
)

// chunkReader hands out its data chunk bytes a Read (all of it when chunk
// is 0), then io.EOF, or fail when it is set: a client's body as the
// server's connection delivers it, in pieces.
type chunkReader struct {
	data  []byte
	chunk int
	fail  error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		if c.fail != nil {
			return 0, c.fail
		}
		return 0, io.EOF
	}
	n := len(c.data)
	if c.chunk > 0 {
		n = min(n, c.chunk)
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// FuzzReadBody: whatever the body, its declared length (a client's
// Content-Length, int64 edges included) and the limit, readBody returns
// the body exactly when it is within the limit, ErrBodyTooLarge when the
// body or its declared length is over it, errReadBody when the connection
// fails first; it never panics and never holds more than limit+1 bytes.
func FuzzReadBody(f *testing.F) {
	f.Add([]byte(""), int64(-1), int64(1<<20), uint8(0), false)
	f.Add([]byte("abc"), int64(3), int64(3), uint8(1), false)
	f.Add([]byte("abcd"), int64(-1), int64(3), uint8(2), false)
	f.Add([]byte("abcd"), int64(2), int64(3), uint8(0), true)
	f.Add([]byte("a\x00\r\n\xff"), int64(0), int64(1), uint8(0), false)
	f.Add(bytes.Repeat([]byte("x"), 70<<10), int64(70<<10), int64(70<<10), uint8(255), false)
	f.Add([]byte("x"), int64(math.MaxInt64), int64(math.MaxInt64-1), uint8(0), false)
	f.Add([]byte("x"), int64(math.MinInt64), int64(math.MaxInt32), uint8(0), false)
	f.Fuzz(func(t *testing.T, body []byte, declared, maxBytes int64, chunk uint8, fail bool) {
		maxBytes &= math.MaxInt64 // Middleware's limit is positive (WithMaxBodyBytes)
		if maxBytes == 0 {
			maxBytes = 1
		}
		rd := &chunkReader{data: body, chunk: int(chunk)}
		if fail {
			rd.fail = io.ErrUnexpectedEOF
		}
		r := &http.Request{Body: io.NopCloser(rd), ContentLength: declared}
		got, err := readBody(r, maxBytes)
		switch {
		case declared > maxBytes || int64(len(body)) > maxBytes:
			if !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("%d bytes (declared %d) over %d: %v, want ErrBodyTooLarge", len(body), declared, maxBytes, err)
			}
		case fail:
			if !errors.Is(err, errReadBody) {
				t.Fatalf("a failed read: %v, want errReadBody", err)
			}
		case err != nil:
			t.Fatalf("%d bytes (declared %d) within %d: %v", len(body), declared, maxBytes, err)
		case !bytes.Equal(got, body):
			t.Fatalf("read %d bytes, want the %d sent", len(got), len(body))
		case int64(cap(got))-1 > maxBytes:
			t.Fatalf("held %d bytes for a limit of %d", cap(got), maxBytes)
		}
	})
}
