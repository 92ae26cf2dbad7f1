package main

import (
	"io"
	"regexp"
	"strings"
	"testing"
)

// TestFlagGroupsHelpAlike checks that every command registering a TLS/CA
// flag group documents each flag of it with the same text.
func TestFlagGroupsHelpAlike(t *testing.T) {
	help := func(run func([]string, io.Writer, io.Writer) int) string {
		var out strings.Builder
		if code := run([]string{"-help"}, &out, io.Discard); code != exitOK {
			t.Fatalf("-help exited %d", code)
		}
		return out.String()
	}
	// flagHelp returns the help of one flag: its line and the indented
	// lines after it.
	flagHelp := func(text, name string) string {
		m := regexp.MustCompile(`(?m)^  -` + name + `\b.*\n(    .*\n)*`).FindString(text)
		if m == "" {
			t.Fatalf("no help for -%s in:\n%s", name, text)
		}
		return m
	}
	for _, group := range []struct {
		flags    []string
		commands map[string]func([]string, io.Writer, io.Writer) int
	}{
		{[]string{"cacert", "allow-private", "insecure-http"}, map[string]func([]string, io.Writer, io.Writer) int{"send": runSend, "relay": runRelay}},
		{[]string{"tls-cert", "tls-key"}, map[string]func([]string, io.Writer, io.Writer) int{"listen": runListen, "relay": runRelay}},
	} {
		for _, f := range group.flags {
			want, first := "", ""
			for name, run := range group.commands {
				got := flagHelp(help(run), f)
				if want == "" {
					want, first = got, name
				} else if got != want {
					t.Errorf("-%s: %s documents it as\n%s%s as\n%s", f, first, want, name, got)
				}
			}
		}
	}
}
