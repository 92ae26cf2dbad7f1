package listener

import (
	"fmt"

	"github.com/heraldhq/herald/internal/shown"
)

// shown returns h as it may be printed: a struct of a type named
// HTTPHandler with the exported fields of HTTPHandler, the Dispatcher and
// the Verifier by their types (a Verifier of the program's own may hold
// its key in plain sight), for [HTTPServer.Format].
func (h HTTPHandler) shown() any {
	type HTTPHandler struct {
		Dispatcher   string
		Verifier     string
		MaxBodyBytes int64
	}
	return HTTPHandler{Dispatcher: shown.Type(h.Dispatcher), Verifier: shown.Type(h.Verifier), MaxBodyBytes: h.MaxBodyBytes}
}

// shown returns s as it may be printed: a struct of a type named
// HTTPServer with the fields of HTTPServer, the NetListener and the
// TLSConfig by their types, and the Handler with its Dispatcher and
// Verifier by their types. It has no Format method, so printing it does
// not come back here.
func (s HTTPServer) shown() any {
	type HTTPServer struct {
		Addr        string
		NetListener string
		Path        string
		Handler     any // HTTPHandler's shown
		TLSConfig   string
	}
	return HTTPServer{Addr: s.Addr, NetListener: shown.Type(s.NetListener), Path: s.Path,
		Handler: s.Handler.shown(), TLSConfig: shown.Type(s.TLSConfig)}
}

// Format prints s under every fmt verb and flag as the struct it is, but
// with the TLSConfig and the NetListener by their types, and the
// Handler's Dispatcher and Verifier by theirs: under %s, %q and the like
// fmt printed what TLSConfig points to, the server's private key among it,
// and every verb a Verifier of the program's own field by field. slog's
// text handler prints it so too.
func (s HTTPServer) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.shown())
}
