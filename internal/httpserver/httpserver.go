// Package httpserver builds the http.Server of every listening part of the
// module (the listener's HTTP source, and herald's relay, admin and listen
// servers), so that none of them forgets a timeout. Without a read timeout
// a client that trickles a body, and without a write timeout one that
// never reads its answers, holds a connection and its goroutine for as
// long as it likes.
package httpserver

import (
	"log"
	"net/http"
	"time"
)

// The timeouts, longest last: a response must be written within Write of
// its request's headers, which leaves the handler what reading the body
// (within Read) did not take.
const (
	ReadHeader = 10 * time.Second
	Read       = time.Minute
	Write      = 2 * time.Minute
	Idle       = 2 * time.Minute
)

// New returns a server of h with the timeouts above, logging its own
// errors to errorLog (the standard logger when nil).
func New(h http.Handler, errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeader,
		ReadTimeout:       Read,
		WriteTimeout:      Write,
		IdleTimeout:       Idle,
		ErrorLog:          errorLog,
	}
}
