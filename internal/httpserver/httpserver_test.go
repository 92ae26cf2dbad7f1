package httpserver

import (
	"net/http"
	"testing"
)

// Every timeout is set, and a response has longer than the request's
// body to be written: WriteTimeout runs from the end of the headers.
func TestNew(t *testing.T) {
	s := New(http.NotFoundHandler(), nil)
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= s.ReadHeaderTimeout || s.WriteTimeout <= s.ReadTimeout || s.IdleTimeout <= 0 {
		t.Fatalf("timeouts: header %v, read %v, write %v, idle %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
}
