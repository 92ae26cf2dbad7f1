package listener

import (
	"net/http"
	"testing"

	"github.com/heraldhq/herald/internal/httpserver"
)

// The HTTP source's server has every timeout (it once had no read and no
// write timeout: a client trickling its body, or never reading the
// answer, held a connection as long as it liked), and its header limit.
func TestHTTPServerTimeouts(t *testing.T) {
	s := (&HTTPServer{}).server(http.NotFoundHandler())
	if s.ReadHeaderTimeout != httpserver.ReadHeader || s.ReadTimeout != httpserver.Read ||
		s.WriteTimeout != httpserver.Write || s.IdleTimeout != httpserver.Idle || s.MaxHeaderBytes != maxHeaderBytes {
		t.Fatalf("server: header %v, read %v, write %v, idle %v, max header %d", s.ReadHeaderTimeout, s.ReadTimeout,
			s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes)
	}
}
