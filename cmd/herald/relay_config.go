package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

// maxConfigFile bounds a relay --config file.
const maxConfigFile = 1 << 20

// relayConfig is the JSON document that relay --config reads:
//
//	{"destinations": [
//	  {"name": "a", "url": "https://a.example/hook", "topics": ["job:*"],
//	   "scheme": "standard", "secret": "env:A_SECRET"},
//	  {"name": "b", "url": "https://b.example/hook", "scheme": "jwt",
//	   "key": "b.key", "issuer": "acme", "headers": {"X-Env": "prod"},
//	   "rate": 10, "burst": 20, "disable_after": "5d"}
//	]}
//
// Unknown keys are refused, so that a misspelt "topics" does not silently
// send everything everywhere.
type relayConfig struct {
	Destinations []destConfig `json:"destinations"`
}

// destConfig is one destination of a relay configuration. Its scheme keys
// mean what the scheme flags of the same name mean; secrets and keys take
// the same env:NAME and @FILE forms, and a list rotates them.
type destConfig struct {
	Name       string            `json:"name"`
	URL        string            `json:"url"`
	Topics     []string          `json:"topics"`
	Headers    map[string]string `json:"headers"`
	Scheme     string            `json:"scheme"`
	Secret     stringOrList      `json:"secret"`
	Key        stringOrList      `json:"key"`
	Alg        string            `json:"alg"`
	Kid        string            `json:"kid"`
	Issuer     string            `json:"issuer"`
	Audience   string            `json:"audience"`
	TTL        string            `json:"ttl"`
	HeaderName string            `json:"header_name"`
	SHA1       bool              `json:"sha1"`
	destAuthConfig
	// Ordered delivers the events of one partition key one at a time, in
	// the order they were accepted (sender.Destination.Ordered).
	Ordered bool `json:"ordered"`
	// Rate, Burst and DisableAfter are the destination's limits in the
	// outbox queue (destlimits.go).
	Rate         float64 `json:"rate"`
	Burst        int     `json:"burst"`
	DisableAfter string  `json:"disable_after"`
}

// stringOrList is a JSON string or array of strings.
type stringOrList []string

// UnmarshalJSON accepts "v" or ["v1", "v2"]. Errors never quote the value,
// which may be a secret.
func (l *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = stringOrList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or an array of strings")
	}
	*l = many
	return nil
}

// configKey names a scheme setting of a destConfig in errors: the JSON key
// that corresponds to a scheme flag.
func configKey(flag string) string {
	return strings.ReplaceAll(flag, "-", "_")
}

// loadRelayConfig reads and checks a relay configuration file. Errors are
// usageErrors that never quote a secret.
func loadRelayConfig(path string) (*relayConfig, error) {
	b, err := readFileLimited(path, "--config file", maxConfigFile)
	if err != nil {
		return nil, usageError{err}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c relayConfig
	if err := dec.Decode(&c); err != nil {
		return nil, usagef("--config file %s: %s", path, jsonProblem(b, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, usagef("--config file %s: trailing data after the JSON object", path)
	}
	if err := checkDuplicateKeys(b); err != nil {
		return nil, usagef("--config file %s: %v", path, err)
	}
	if len(c.Destinations) == 0 {
		return nil, usagef("--config file %s: no destinations", path)
	}
	return &c, nil
}

// checkDuplicateKeys refuses a JSON document (already decoded without
// error) in which an object holds a key twice, compared without regard to
// case: encoding/json would keep the last silently, and takes a key in any
// case for a struct field (and header names are case-insensitive). The
// error names the key and its line, never a value.
func checkDuplicateKeys(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	// Each open object's keys, folded; nil for an open array.
	var open []map[string]bool
	expectKey := func() bool { return len(open) > 0 && open[len(open)-1] != nil }
	for {
		isKey := expectKey()
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return errors.New("invalid JSON")
		}
		switch tok {
		case json.Delim('{'):
			open = append(open, map[string]bool{})
			continue
		case json.Delim('['):
			open = append(open, nil)
			continue
		case json.Delim('}'), json.Delim(']'):
			open = open[:len(open)-1]
			continue
		}
		if !isKey {
			continue
		}
		// A key: the next token is its value, read before the next key.
		k, _ := tok.(string)
		folded := strings.ToLower(strings.ToUpper(k))
		keys := open[len(open)-1]
		if keys[folded] {
			return fmt.Errorf("line %d: key %q more than once in one object (in one case or another)", lineOf(doc, dec.InputOffset()), k)
		}
		keys[folded] = true
		if err := enterValue(dec, &open); err != nil {
			return err
		}
	}
}

// enterValue reads the first token of the value after a key: a scalar is
// then done, and an object or array is pushed on open for the caller's
// loop to walk.
func enterValue(dec *json.Decoder, open *[]map[string]bool) error {
	tok, err := dec.Token()
	if err != nil {
		return errors.New("invalid JSON")
	}
	switch tok {
	case json.Delim('{'):
		*open = append(*open, map[string]bool{})
	case json.Delim('['):
		*open = append(*open, nil)
	}
	return nil
}

// jsonProblem describes a JSON decoding error with its line, without
// quoting the document (which may hold secrets).
func jsonProblem(doc []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at line %d: %v", lineOf(doc, se.Offset), se)
	case errors.As(err, &te):
		return fmt.Sprintf("line %d: %s must be %s, not a JSON %s", lineOf(doc, te.Offset), te.Field, te.Type, te.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: unexpected end of file"
	}
	// Unknown fields ("json: unknown field \"x\"") and custom decoders'
	// errors name keys, never values.
	return err.Error()
}

// lineOf returns the 1-based line of byte offset off in doc.
func lineOf(doc []byte, off int64) int {
	if off > int64(len(doc)) {
		off = int64(len(doc))
	}
	return bytes.Count(doc[:off], []byte("\n")) + 1
}

// destination builds the sender.Destination of one configured destination.
// i numbers it from 1 for errors.
func (d *destConfig) destination(i int) (sender.Destination, error) {
	where := fmt.Sprintf("destination #%d", i)
	if d.Name != "" {
		where = fmt.Sprintf("destination %q", d.Name)
	}
	if err := checkDestName(d.Name); err != nil {
		return sender.Destination{}, usagef("--config: %s: %v", where, err)
	}
	if d.URL == "" {
		return sender.Destination{}, usagef("--config: %s: missing url", where)
	}
	sf := schemeFlags{
		scheme: d.Scheme, secrets: stringList(d.Secret), keys: stringList(d.Key),
		alg: d.Alg, kid: d.Kid, issuer: d.Issuer, audience: d.Audience,
		headerName: d.HeaderName, sha1: d.SHA1, name: configKey,
	}
	if sf.scheme == "" {
		sf.scheme = "standard"
	}
	if d.TTL != "" {
		ttl, err := time.ParseDuration(d.TTL)
		if err != nil {
			return sender.Destination{}, usagef("--config: %s: ttl %s is not a duration such as 5m", where, showArg(d.TTL))
		}
		sf.ttl = ttl
	}
	signer, err := sf.signer()
	if err != nil {
		return sender.Destination{}, usagef("--config: %s: %v", where, err)
	}
	h := http.Header{}
	for name, v := range d.Headers {
		if !wire.IsToken(name) {
			return sender.Destination{}, usagef("--config: %s: invalid header name %q", where, name)
		}
		if err := wire.CheckHeader(name, v); err != nil {
			return sender.Destination{}, usagef("--config: %s: header %s: %v", where, name, err)
		}
		h.Set(name, v)
	}
	if err := checkTopics(d.Topics); err != nil {
		return sender.Destination{}, usagef("--config: %s: %v", where, err)
	}
	dest := sender.Destination{Name: d.Name, URL: d.URL, Signer: signer, Headers: h, Topics: d.Topics, Ordered: d.Ordered}
	if err := d.limits(&dest); err != nil {
		return sender.Destination{}, usagef("--config: %s: %v", where, err)
	}
	if err := d.destAuthConfig.apply(&dest); err != nil {
		return sender.Destination{}, usagef("--config: %s: %v", where, err)
	}
	return dest, nil
}

// checkDestName refuses destination names the outbox would refuse, by its
// rule (wire.CheckText: valid UTF-8 without control characters, line
// separators or bidi controls). The error does not repeat the name.
func checkDestName(name string) error {
	switch {
	case name == "":
		return errors.New("missing name")
	case len(name) > limits.Name:
		return fmt.Errorf("name is longer than %d bytes", limits.Name)
	}
	if err := wire.CheckText(name); err != nil {
		return fmt.Errorf("name %w", err)
	}
	return nil
}

// checkTopics refuses malformed topic patterns, by the one grammar that
// Destination.Wants and listener.On use (sender.ValidatePattern). The error
// names the pattern and why.
func checkTopics(patterns []string) error {
	for _, p := range patterns {
		if err := sender.ValidatePattern(p); err != nil {
			return err
		}
	}
	return nil
}

// parseSchedule parses --schedule: comma-separated delays such as
// "0s,1s,5s,1m", the first one before the first attempt.
func parseSchedule(s string) ([]time.Duration, error) {
	var ds []time.Duration
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		d, err := time.ParseDuration(part)
		if err != nil {
			return nil, fmt.Errorf("--schedule: delay #%d %s is not a duration such as 5s", i+1, showArg(part))
		}
		if d < 0 {
			return nil, fmt.Errorf("--schedule: delay #%d is negative", i+1)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// checkOrdered refuses an ordered destination over a store that cannot
// keep the order of a partition key, before the relay takes any event (the
// queue would refuse it too, once running).
func checkOrdered(dests []sender.Destination, st outbox.Outbox) error {
	if ko, ok := st.(interface{ OrdersByKey() bool }); ok && ko.OrdersByKey() {
		return nil
	}
	for _, d := range dests {
		if d.Ordered {
			return usagef("--config: destination %q is ordered, but this --store cannot keep the order of a partition key: use a bbolt file or a postgres:// URL", d.Name)
		}
	}
	return nil
}
