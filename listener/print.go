package listener

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldhq/herald/internal/shown"
)

// shown returns h as it may be printed: a struct of a type named
// HTTPHandler with the exported fields of HTTPHandler, the Dispatcher and
// the Verifier by their types (a Verifier of the program's own may hold
// its key in plain sight). It has no Format method, so printing it does
// not come back here.
func (h HTTPHandler) shown() any {
	type HTTPHandler struct {
		Dispatcher   string
		Verifier     string
		MaxBodyBytes int64
	}
	return HTTPHandler{Dispatcher: shown.Type(h.Dispatcher), Verifier: shown.Type(h.Verifier), MaxBodyBytes: h.MaxBodyBytes}
}

// Format prints h under every fmt verb and flag as the struct it is, with
// its exported fields only, and the Dispatcher and the Verifier by their
// types: a Verifier of the program's own printed its fields, key and all.
// slog's text handler prints it so too.
func (h HTTPHandler) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), h.shown())
}

// MarshalJSON encodes h as [HTTPHandler.Format] shows it; slog's JSON
// handler encodes it so. It is for logging: the JSON cannot be decoded
// into a working HTTPHandler.
func (h HTTPHandler) MarshalJSON() ([]byte, error) {
	return json.Marshal(h.shown())
}

// shown returns s as it may be printed: a struct of a type named
// HTTPServer with the fields of HTTPServer, the NetListener and the
// TLSConfig by their types, and the Handler as [HTTPHandler.Format] shows
// it. It has no Format method, so printing it does not come back here.
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
// with the TLSConfig and the NetListener by their types, and the Handler
// as [HTTPHandler.Format] shows it: under %s, %q and the like fmt printed
// what TLSConfig points to, the server's private key among it. slog's
// text handler prints it so too.
func (s HTTPServer) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.shown())
}

// shown returns p as it may be printed: a pointer to a struct of a type
// named Poller with the exported fields of Poller, the Feed and the Cursor
// by their types (a Feed of the program's own may hold an API token). A
// nil p gives a nil pointer of that type.
func (p *Poller) shown() any {
	type Poller struct {
		Feed       string
		Cursor     string
		Interval   time.Duration
		MaxBackoff time.Duration
	}
	if p == nil {
		return (*Poller)(nil)
	}
	return &Poller{Feed: shown.Type(p.Feed), Cursor: shown.Type(p.Cursor), Interval: p.Interval, MaxBackoff: p.MaxBackoff}
}

// Format prints p under every fmt verb and flag as the struct it is, with
// its exported fields only, and the Feed and the Cursor by their types: a
// Feed of the program's own printed its fields, an API token among them.
// slog's text handler prints it so too. The method is on *Poller, which
// holds a lock: a Poller held by value in a struct that is printed still
// prints whole, so hold it by pointer.
func (p *Poller) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), p.shown())
}

// MarshalJSON encodes p as [Poller.Format] shows it; slog's JSON handler
// encodes it so. It is for logging: the JSON cannot be decoded into a
// working Poller.
func (p *Poller) MarshalJSON() ([]byte, error) {
	return json.Marshal(p.shown())
}
