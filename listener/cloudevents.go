package listener

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// CloudEvents 1.0 over HTTP, in binary and structured content modes.
//
// Mapping onto [Event]: type → Topic (it must be domain:action), id → ID,
// time → CreatedAt, data (or the body in binary mode) → Payload,
// partitionkey (the Partitioning extension) → PartitionKey; source,
// subject, dataschema and every extension attribute go into Context under
// their attribute name. Only JSON data is accepted. Binary mode is refused
// when the HTTPHandler has a Verifier: no scheme signs ce-* headers.

// ErrUnsupported: an HTTP request uses a content type or CloudEvents
// feature the listener does not accept (batches, non-JSON data).
var ErrUnsupported = errors.New("listener: unsupported event format")

// Content types of the CloudEvents structured and batched modes.
const (
	contentTypeCloudEvents      = "application/cloudevents+json"
	contentTypeCloudEventsBatch = "application/cloudevents-batch+json"
)

const ceMaxExtensionName = 20

// isJSONMediaType reports whether a datacontenttype carries JSON, in
// UTF-8.
func isJSONMediaType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !utf8Charset(params) {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// validExtensionName checks a CloudEvents attribute name: lower-case ASCII
// letters and digits, at most 20 of them.
func validExtensionName(name string) bool {
	if name == "" || len(name) > ceMaxExtensionName {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseCETime parses a CloudEvents time attribute (RFC 3339).
func parseCETime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: time is not RFC 3339", ErrInvalidEvent)
	}
	return t, nil
}

// ceEvent collects CloudEvents attributes before they become an Event.
type ceEvent struct {
	ev          Event
	specversion string
	source      string
}

func (c *ceEvent) set(name, value string) error {
	switch name {
	case "specversion":
		c.specversion = value
	case "id":
		c.ev.ID = value
	case "type":
		c.ev.Topic = value
	case "time":
		t, err := parseCETime(value)
		if err != nil {
			return err
		}
		c.ev.CreatedAt = t
	case "datacontenttype":
		if !isJSONMediaType(value) {
			return fmt.Errorf("%w: datacontenttype %.64q is not JSON", ErrUnsupported, value)
		}
	default: // source, subject, dataschema, extensions
		if !validExtensionName(name) {
			return fmt.Errorf("%w: attribute name %.32q is not 1-20 lower-case letters or digits", ErrInvalidEvent, name)
		}
		switch name {
		case "source":
			c.source = value
		case "partitionkey":
			c.ev.PartitionKey = value
		}
		if c.ev.Context == nil {
			c.ev.Context = map[string]string{}
		}
		if _, ok := c.ev.Context[name]; !ok && len(c.ev.Context) == maxAttributes {
			// Refused now rather than after reading a body of them.
			return errManyAttributes
		}
		c.ev.Context[name] = value
	}
	return nil
}

func (c *ceEvent) finish() (*Event, error) {
	if c.specversion != "1.0" {
		if c.specversion == "" {
			return nil, fmt.Errorf("%w: missing specversion", ErrInvalidEvent)
		}
		return nil, fmt.Errorf("%w: specversion %.16q is not 1.0", ErrUnsupported, c.specversion)
	}
	if c.source == "" {
		return nil, fmt.Errorf("%w: missing source", ErrInvalidEvent)
	}
	if c.ev.Topic == "" {
		return nil, fmt.Errorf("%w: missing type", ErrInvalidEvent)
	}
	// Both modes read the data as valid JSON already.
	if err := c.ev.validateFields(); err != nil {
		return nil, err
	}
	return &c.ev, nil
}

// parseBinary reads a binary-mode CloudEvent: attributes in ce-* headers
// (percent-decoded), the body as the data.
func parseBinary(h http.Header, body []byte) (*Event, error) {
	var c ceEvent
	for name, vals := range h {
		lname := strings.ToLower(name)
		if !strings.HasPrefix(lname, "ce-") {
			continue
		}
		attr := lname[len("ce-"):]
		if len(vals) != 1 {
			return nil, fmt.Errorf("%w: header %.32q repeated", ErrInvalidEvent, name)
		}
		if attr == "datacontenttype" {
			return nil, fmt.Errorf("%w: ce-datacontenttype is given by Content-Type in binary mode", ErrInvalidEvent)
		}
		v, err := url.PathUnescape(vals[0])
		if err != nil || !utf8.ValidString(v) {
			return nil, fmt.Errorf("%w: header %.32q is not valid percent-encoded UTF-8", ErrInvalidEvent, name)
		}
		if err := c.set(attr, v); err != nil {
			return nil, err
		}
	}
	if len(body) > 0 {
		if ct := h.Get("Content-Type"); ct != "" && !isJSONMediaType(ct) {
			return nil, fmt.Errorf("%w: content type %.64q is not JSON", ErrUnsupported, ct)
		}
		if !json.Valid(body) {
			return nil, fmt.Errorf("%w: data is not valid JSON", ErrInvalidEvent)
		}
		if !bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
			c.ev.Payload = json.RawMessage(body)
		}
	}
	return c.finish()
}

// parseStructured reads a structured-mode CloudEvent: one JSON object with
// the attributes and data. Repeated attributes, objects or arrays as
// attribute values, data_base64 and trailing data are rejected.
func parseStructured(body []byte) (*Event, error) {
	c, ok := walkStructured(body)
	if !ok {
		var err error
		if c, err = readStructured(body); err != nil {
			return nil, err
		}
	}
	return c.finish()
}

// readStructured is parseStructured's strict decoder, token by token: the
// path of every event that walkStructured gives up on, and the one that
// words the errors.
func readStructured(body []byte) (ceEvent, error) {
	var c ceEvent
	fail := func(err error) (ceEvent, error) { return ceEvent{}, err }
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := expectDelim(dec, '{'); err != nil {
		return fail(err)
	}
	seen := map[string]bool{}
	for dec.More() {
		key, err := objectKey(dec)
		if err != nil {
			return fail(err)
		}
		if seen[key] {
			return fail(fmt.Errorf("%w: attribute %.32q repeated", ErrInvalidEvent, key))
		}
		if len(seen) == maxStructuredNames {
			return fail(errManyNames)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fail(fmt.Errorf("%w: attribute %.32q: %s", ErrInvalidEvent, key, jsonReason(err)))
		}
		switch key {
		case "data":
			if !bytes.Equal(raw, []byte("null")) {
				c.ev.Payload = raw
			}
			continue
		case "data_base64":
			return fail(fmt.Errorf("%w: data_base64 (binary data)", ErrUnsupported))
		}
		var v string
		switch raw[0] {
		case 'n': // null: the attribute is absent
			continue
		case '"':
			if err := json.Unmarshal(raw, &v); err != nil {
				return fail(fmt.Errorf("%w: attribute %.32q: %s", ErrInvalidEvent, key, jsonReason(err)))
			}
		case '{', '[':
			return fail(fmt.Errorf("%w: attribute %.32q is not a string, number or boolean", ErrInvalidEvent, key))
		default: // number or boolean: keep its JSON text
			if stringAttribute(key) {
				return fail(fmt.Errorf("%w: attribute %q must be a string", ErrInvalidEvent, key))
			}
			v = string(raw)
		}
		if err := c.set(key, v); err != nil {
			return fail(err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return fail(err)
	}
	if err := expectEOF(dec); err != nil {
		return fail(err)
	}
	return c, nil
}

// maxStructuredNames bounds the member names of a structured CloudEvent:
// the context attributes, which Event.Context bounds, and the others
// (specversion, id, type, time, datacontenttype, data, data_base64). A
// null attribute is absent, so nothing else counts it: a body of a
// hundred thousand of them cost a map of all their names.
const maxStructuredNames = maxAttributes + 7

// errManyNames refuses a structured CloudEvent of more than
// maxStructuredNames members, null ones included.
var errManyNames = fmt.Errorf("%w: more than %d attributes, null ones included", ErrInvalidEvent, maxStructuredNames)

// stringAttribute reports whether the CloudEvents attribute name must have
// a string value.
func stringAttribute(name string) bool {
	switch name {
	case "specversion", "id", "type", "source", "time", "subject", "datacontenttype", "dataschema":
		return true
	}
	return false
}
