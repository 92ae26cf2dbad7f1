// Herald is a command line for people who send, receive and debug secured
// webhooks. It is built only from the herald SDK: it signs exactly as package
// sender does and verifies exactly as package auth does.
//
// Usage:
//
//	herald <command> [flags] [arguments]
//
// The commands are:
//
//	keygen    make a new secret or key pair for a scheme
//	sign      print the headers herald would send for a body
//	send      deliver a signed webhook, with retries, and print the result
//	verify    check a captured request (headers file and body)
//	listen    run a local receiver that verifies every request
//	relay     a durable worker: HTTP events in, signed webhooks out
//	outbox    list, replay or purge a relay's dead letters
//	version   print herald's version
//	help      print help on a command
//
// Every command takes -help. Flags may be written -flag or --flag, before or
// after the positional arguments; "--" ends the flags.
//
// # Schemes
//
// sign, send, verify and listen share the scheme flags:
//
//	--scheme standard|standard-v1a|hub|stripe|jwt   (default standard)
//	--secret VALUE      HMAC secret (standard, hub, stripe, jwt HS*); repeat to rotate
//	--key VALUE|FILE    private key: a whsk_ key (standard-v1a) or a PEM file (jwt)
//	--pubkey VALUE|FILE public key: a whpk_ key, a PEM or JWKS file, a JWKS https URL (jwt)
//	--alg               jwt algorithm: HS256, HS384, HS512, RS256, ES256, EdDSA
//	--kid               jwt key id (default: the key's RFC 7638 thumbprint)
//	--issuer, --audience, --ttl   jwt claims
//	--header-name       signature header (hub, stripe); --sha1 for hub's legacy header
//	--tolerance         timestamp tolerance (jwt: clock leeway)
//
// A secret may be given as env:NAME (read from the environment) or @FILE
// (read from a file), either with its trailing newline dropped, so that it
// never sits in the shell's history. A standard secret is a whsec_ value;
// hub, stripe and jwt HS* secrets are the raw bytes of the string. Several
// --secret, --key or --pubkey flags rotate keys: sign with all (or the
// first), accept any.
//
// No command prints a secret or a private key, except keygen, whose purpose
// that is. Errors never quote secrets or expected signatures, nor the name
// of a file given to a secret or key flag (a secret typed where the name
// belongs), nor an argument that looks like key material. What a request
// carried (ids, key ids, claims, topics) is printed with its control,
// C1 and bidi characters escaped.
//
// # Exit status
//
// 0 on success (for send: a 2xx answer; for verify: a valid request), 1 when
// the operation failed (delivery failed, signature invalid), 2 for a usage
// error (unknown command or flag, missing or malformed secret, bad input).
//
// # Examples
//
//	herald keygen --scheme standard > secret.txt
//	herald sign --secret @secret.txt --id msg_1 body.json > headers.txt
//	herald verify --secret @secret.txt --headers headers.txt body.json
//	herald listen --secret @secret.txt --addr 127.0.0.1:8443 --self-signed --cert-out cert.pem
//	herald send --secret @secret.txt --cacert cert.pem --allow-private https://127.0.0.1:8443/ body.json
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/heraldhq/herald/internal/version"
)

// A command is one subcommand of herald. run receives the arguments after the
// command name and returns the process exit status.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands is the command table. A new command adds one line here and one
// file of its own.
var commands = []command{
	{"keygen", "make a new secret or key pair for a scheme", runKeygen},
	{"sign", "print the headers herald would send for a body", runSign},
	{"send", "deliver a signed webhook, with retries, and print the result", runSend},
	{"verify", "check a captured request (headers file and body)", runVerify},
	{"listen", "run a local receiver that verifies every request", runListen},
	{"relay", "a durable worker: HTTP events in, signed webhooks out", runRelay},
	{"outbox", "inspect a relay's outbox: counts, dead letters, disabled destinations", runOutbox},
	{"version", "print herald's version", runVersion},
}

// Exit statuses.
const (
	exitOK    = 0 // success
	exitFail  = 1 // the operation failed: delivery failed, signature invalid
	exitUsage = 2 // the command line or its input is wrong
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches args to a command and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && name == "help" {
			if c := lookup(args[1]); c != nil {
				return c.run([]string{"-help"}, stdout, stderr)
			}
			fmt.Fprintf(stderr, "herald help: unknown command %s\n", showArg(args[1]))
			return exitUsage
		}
		usage(stdout)
		return exitOK
	}
	if c := lookup(name); c != nil {
		return c.run(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "herald: unknown command %s\nRun 'herald help' for usage.\n", showArg(name))
	return exitUsage
}

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// usage lists the commands on w.
func usage(w io.Writer) {
	fmt.Fprintf(w, "Herald sends, receives and debugs secured webhooks.\n\nUsage:\n\n\therald <command> [flags] [arguments]\n\nThe commands are:\n\n")
	cs := make([]command, len(commands))
	copy(cs, commands)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(w, "\t%-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nUse 'herald help <command>' or 'herald <command> -help' for more about a command.\n")
}

// runVersion implements "herald version".
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "herald version", "Version prints herald's version and the Go version it was built with.", "herald version")
	if code, ok := parse(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageErr(stderr, "version", "unexpected arguments")
	}
	fmt.Fprintf(stdout, "herald version %s %s %s/%s\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// flagSet is a command's flag set together with its help text.
type flagSet struct {
	*flag.FlagSet
	usageLine string // "herald sign [flags] [BODYFILE|-]"
	doc       string // what the command does
	example   string // one or more example command lines
	args      []string
}

// newFlagSet returns an empty flagSet for the command name.
func newFlagSet(name, usageLine, doc, example string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flagSet{FlagSet: fs, usageLine: usageLine, doc: doc, example: example}
}

// Args returns the positional arguments, wherever they stood among the flags.
func (fs *flagSet) Args() []string { return fs.args }

// NArg returns the number of positional arguments.
func (fs *flagSet) NArg() int { return len(fs.args) }

// printHelp writes the command's help to w.
func (fs *flagSet) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\nFlags:\n", fs.usageLine, fs.doc)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprintf(w, "\nExample:\n")
	for _, line := range strings.Split(fs.example, "\n") {
		fmt.Fprintf(w, "\t%s\n", line)
	}
}

// parse parses args, allowing flags after positional arguments (until "--").
// It returns ok false with the exit status when the command must stop:
// 0 after -help (printed to stdout), 2 after a bad flag.
func parse(fs *flagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.args = nil
	for {
		err := fs.FlagSet.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.printHelp(stdout)
			return exitOK, false
		}
		if err != nil {
			// A flag's error may quote its value: a key given to the
			// wrong flag must not be echoed.
			return usageErr(stderr, fs.Name(), "%s", hideSecretArgs(err.Error(), args)), false
		}
		rest := fs.FlagSet.Args()
		if len(rest) == 0 {
			return exitOK, true
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			fs.args = append(fs.args, rest...)
			return exitOK, true
		}
		fs.args = append(fs.args, rest[0])
		args = rest[1:]
	}
}

// usageErr reports a usage error of command name on stderr and returns
// exitUsage. The message is escaped (escapeText): it may quote input.
func usageErr(stderr io.Writer, name, format string, a ...any) int {
	fmt.Fprintf(stderr, "herald %s: %s\nRun 'herald %s -help' for usage.\n", name, escapeText(fmt.Sprintf(format, a...)), name)
	return exitUsage
}

// failure reports a failure of command name on stderr and returns exitFail.
// The message is escaped (escapeText): it may quote what a peer sent.
func failure(stderr io.Writer, name string, err error) int {
	fmt.Fprintf(stderr, "herald %s: %s\n", name, escapeText(err.Error()))
	return exitFail
}

// Limits on what herald reads from files and standard input.
const (
	maxBodyFile    = 10 << 20 // a request body
	maxHeadersFile = 1 << 20  // a headers file
	maxKeyFile     = 1 << 20  // a secret, key or JWKS file
)

// stdin is where "-" reads from.
var stdin io.Reader = os.Stdin

// readBody reads the body named by the positional argument arg: a file name,
// "-" for standard input, or "" for an empty body. It reads at most
// maxBodyFile bytes.
func readBody(arg string) ([]byte, error) {
	switch arg {
	case "":
		return nil, nil
	case "-":
		return readLimited(stdin, "standard input", maxBodyFile)
	}
	return readFileLimited(arg, "body file", maxBodyFile)
}

// readFileLimited reads the file name, refusing one larger than limit bytes.
// what names the file in errors, followed by its name unless the name
// looks like key material (a key given where a file name belongs).
func readFileLimited(name, what string, limit int64) ([]byte, error) {
	return readFile(name, fileLabel(what, name), limit)
}

// fileLabel names the file name, described by what, in a message: what and
// the name, unless the name looks like key material.
func fileLabel(what, name string) string {
	if looksSecret(name) {
		return what + " (the name looks like a key, not a file; not shown)"
	}
	return what + " " + name
}

// readFile reads the file name, refusing one larger than limit bytes. label
// names it in errors, which never hold the name otherwise: an operating
// system error is reduced to its reason.
func readFile(name, label string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", label, osReason(err))
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("cannot read %s: is a directory", label)
	}
	return readLimited(f, label, limit)
}

// checkConnFile refuses a file that a client library would read whole,
// unbounded, and again at each reconnect: it must be a regular file of at
// most maxKeyFile bytes, not a FIFO (which would hang the read), a device
// such as /dev/zero (which would fill the memory) or a directory. label
// names the file in errors.
func checkConnFile(name, label string) error {
	fi, err := os.Stat(name)
	switch {
	case err != nil:
		return fmt.Errorf("cannot read %s: %w", label, osReason(err))
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", label)
	case fi.Size() > maxKeyFile:
		return fmt.Errorf("%s is larger than %s", label, formatSize(maxKeyFile))
	}
	return nil
}

// osReason returns the reason of an operating system error without the path
// that *fs.PathError and *os.LinkError print: "no such file or directory",
// not "open whsec_…: no such file or directory". errors.Is still matches
// fs.ErrNotExist and the other kinds on it.
func osReason(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

// readLimited reads r to its end, refusing more than limit bytes.
func readLimited(r io.Reader, what string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", what, osReason(err))
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %s", what, formatSize(limit))
	}
	return b, nil
}

// formatSize writes n bytes the way herald's limits are documented.
func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// stringList is a repeatable string flag.
type stringList []string

// String returns the values joined by commas.
func (l *stringList) String() string { return strings.Join(*l, ",") }

// Set appends v.
func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
